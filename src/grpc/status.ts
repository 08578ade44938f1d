/**
 * The gateway's errors as gRPC statuses — the one mapping from the HTTP
 * statuses the data plane throws (errors.ts) to gRPC's codes:
 *
 * | HTTP | gRPC |
 * |---|---|
 * | 400, 413 | INVALID_ARGUMENT (the message names the field; trailer `claw-field`) |
 * | 401 | UNAUTHENTICATED |
 * | 403 | PERMISSION_DENIED |
 * | 404 | NOT_FOUND |
 * | 409 | FAILED_PRECONDITION (another consumer reads those replies) |
 * | 429 | RESOURCE_EXHAUSTED, with retry info |
 * | 503 | UNAVAILABLE, with retry info (NATS away, or a turn that failed transiently) |
 * | 504 | DEADLINE_EXCEEDED |
 * | 502, 422 | UNKNOWN: the agent or skill ran and failed for good (trailer `claw-code`) |
 *
 * Retry info goes both ways a client may read it: the trailer `retry-after`
 * (seconds, as HTTP's header) and `grpc-status-details-bin`, a
 * `google.rpc.Status` whose details hold a `google.rpc.RetryInfo` — what
 * gRPC's rich error model (and Google's client libraries) read.
 */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { HttpError, UNAVAILABLE_RETRY_AFTER_S } from "../gateway/errors.js";

const BY_HTTP: Record<number, status> = {
  400: status.INVALID_ARGUMENT,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  404: status.NOT_FOUND,
  409: status.FAILED_PRECONDITION,
  413: status.INVALID_ARGUMENT,
  422: status.UNKNOWN,
  429: status.RESOURCE_EXHAUSTED,
  502: status.UNKNOWN,
  503: status.UNAVAILABLE,
  504: status.DEADLINE_EXCEEDED,
};

/** The gRPC code of an HTTP status the gateway answers. */
export function grpcCode(httpStatus: number): status {
  return BY_HTTP[httpStatus] ?? (httpStatus >= 500 ? status.UNAVAILABLE : status.INVALID_ARGUMENT);
}

/** A protobuf varint. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = Math.floor(n);
  while (v > 127) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
/** A length-delimited field (`field` with wire type 2). */
const bytesField = (field: number, b: Uint8Array): number[] => [...varint((field << 3) | 2), ...varint(b.length), ...b];
const intField = (field: number, n: number): number[] => [...varint(field << 3), ...varint(n)];

/** `google.rpc.Status {code, message, details: [Any(google.rpc.RetryInfo {retry_delay: {seconds}})]}`, serialized. */
export function retryStatusDetails(code: status, message: string, retryAfterS: number): Buffer {
  const duration = intField(1, retryAfterS);
  const retryInfo = bytesField(1, Uint8Array.from(duration));
  const any = [...bytesField(1, Buffer.from("type.googleapis.com/google.rpc.RetryInfo")), ...bytesField(2, Uint8Array.from(retryInfo))];
  return Buffer.from([...intField(1, code), ...bytesField(2, Buffer.from(message)), ...bytesField(3, Uint8Array.from(any))]);
}

/** A status to end a call with: its code, message and trailers (the error's code, field and retry advice). */
export function serviceError(code: status, message: string, o: { claw?: string; field?: string; retryAfterS?: number } = {}): Partial<ServiceError> {
  const metadata = new Metadata();
  if (o.claw) metadata.set("claw-code", o.claw);
  if (o.field) metadata.set("claw-field", o.field);
  if (o.retryAfterS !== undefined) {
    metadata.set("retry-after", String(o.retryAfterS));
    metadata.set("grpc-status-details-bin", retryStatusDetails(code, message, o.retryAfterS));
  }
  return { code, details: message, message, metadata };
}

/**
 * What a call threw, as its status: an {@link HttpError} by its status, a
 * bug (TypeError, RangeError, ReferenceError) INTERNAL and logged, anything
 * else — the bus failing under the call — UNAVAILABLE to retry, as HTTP's 503.
 */
export function toServiceError(e: unknown, onError: (e: unknown) => void): Partial<ServiceError> {
  if (e instanceof HttpError) return serviceError(grpcCode(e.status), e.message, { claw: e.code, field: e.field, retryAfterS: e.retryAfterS });
  onError(e);
  if (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError)
    return serviceError(status.INTERNAL, "the gateway failed on this call; it is logged", { claw: "internal_error" });
  return serviceError(status.UNAVAILABLE, "the message could not be accepted now; retry", { claw: "unavailable", retryAfterS: UNAVAILABLE_RETRY_AFTER_S });
}
