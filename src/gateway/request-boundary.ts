/**
 * The gateway's last resort: nothing a request, an upgrade or a broken client
 * does may take the node down. Whatever a handler throws — even after its
 * answer was sent, or on a connection the client already closed — is
 * logged, and the node goes on serving everyone else.
 *
 * Node's own traps, each closed here:
 * - a request or response whose client went away emits `error`; with no
 *   listener that is an uncaught exception;
 * - an upgraded socket is no longer watched by the HTTP server: an `error`
 *   on it while the upgrade is decided (a reset during an access check) is
 *   uncaught too;
 * - the listening server emits `error` when `accept` fails (out of file
 *   descriptors): uncaught, it ends the process.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { sendJson } from "./http-io.js";

const ignore = () => undefined;

/** A request listener that can neither throw nor reject: what escapes `handle` is logged and the request answered 500 (or its connection closed). */
export function serveSafely(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  onError: (e: unknown) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    req.on("error", ignore);
    res.on("error", ignore);
    let done: Promise<void>;
    try {
      done = handle(req, res);
    } catch (e) {
      done = Promise.reject(e);
    }
    done.catch((e: unknown) => lastResort(res, e, onError));
  };
}

function lastResort(res: ServerResponse, e: unknown, onError: (e: unknown) => void): void {
  try {
    onError(e);
    // a response already under way, or nobody left to read one: the connection is all there is to end
    if (res.headersSent || !res.socket || res.socket.destroyed) return void res.destroy();
    sendJson(res, 500, { error: { code: "internal_error", message: "the gateway failed on this request; it is logged" } }, { connection: "close" });
  } catch (again) {
    onError(again);
    res.destroy();
  }
}

/** An upgrade listener that can neither throw nor reject: on an unexpected error the socket is closed. */
export function upgradeSafely(
  handle: (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>,
  onError: (e: unknown) => void,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on("error", ignore);
    let done: Promise<void>;
    try {
      done = handle(req, socket, head);
    } catch (e) {
      done = Promise.reject(e);
    }
    done.catch((e: unknown) => {
      onError(e);
      socket.destroy();
    });
  };
}

/** What the HTTP parser refused, answered as Node would (400, 408, 431) and the connection closed; a failure doing so is logged. */
export function answerClientError(onError: (e: unknown) => void): (e: Error & { code?: string }, socket: Duplex) => void {
  return (e, socket) => {
    try {
      const s = socket as Socket;
      // a reset has nobody to answer; bytes already written belong to an earlier answer on this connection
      if (e.code === "ECONNRESET" || !s.writable || s.bytesWritten > 0) return void s.destroy();
      const status =
        e.code === "HPE_HEADER_OVERFLOW"
          ? "431 Request Header Fields Too Large"
          : e.code === "ERR_HTTP_REQUEST_TIMEOUT"
            ? "408 Request Timeout"
            : "400 Bad Request";
      s.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, () => s.destroy());
    } catch (again) {
      onError(again);
      socket.destroy();
    }
  };
}

/** Calls `fn` at most once per `ms`, with how many calls were folded into it. */
export function atMostEvery<A>(ms: number, fn: (arg: A, folded: number) => void): (arg: A) => void {
  let last = 0;
  let folded = 0;
  return (arg) => {
    const now = Date.now();
    if (now - last < ms) return void folded++;
    last = now;
    fn(arg, folded);
    folded = 0;
  };
}
