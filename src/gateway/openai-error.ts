/**
 * OpenAI's error body (`{ error: { message, type, param, code } }`), which
 * the OpenAI-compatible endpoints answer with so that OpenAI's client
 * libraries raise their own error classes with the fields filled in.
 *
 * @see https://platform.openai.com/docs/guides/error-codes
 */
import type { ServerResponse } from "node:http";
import { HttpError } from "./errors.js";
import { sendJson } from "./http-io.js";
import { QUOTA_EXCEEDED, TurnFailedError } from "./turn-failure.js";

/** Answers with OpenAI's error shape. */
export function openAiError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { error: { message, type, param, code } }, headers);
}

/** An {@link HttpError} in OpenAI's shape (its Retry-After and retry advice kept); a failed turn is a `server_error` whatever its status. */
export function openAiHttpError(res: ServerResponse, e: HttpError): void {
  const type =
    e.code === QUOTA_EXCEEDED
      ? "insufficient_quota"
      : e.status >= 500 || e instanceof TurnFailedError
        ? "server_error"
        : e.status === 429
          ? "rate_limit_error"
          : "invalid_request_error";
  openAiError(res, e.status, e.message, type, e.code, e.field ?? null, e.headers());
}
