"""HTTP for the client: one request with its retries, errors as ClawError, Server-Sent Events.

Standard library only (http.client), a connection per request (so a client is safe to share between
threads, which AsyncClaw does). Retries follow one rule for every method (see ``Transport.send``).
"""
from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import socket
import ssl
import time
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple
from urllib.parse import quote, urlencode, urlsplit

from ._errors import ClawError
from ._result import wrap

__version__ = "0.1.0"

log = logging.getLogger("claw_sdk")

_DEFAULT_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 409: "conflict", 413: "too_large", 429: "rate_limited"}


def path_of(template: str, *params: Any) -> str:
    """A path with each ``{}`` filled by one parameter, escaped as a single path segment."""
    return template.format(*(quote(str(p), safe="") for p in params))


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` in seconds: a number, or an HTTP date (then the time until it)."""
    if value is None or value.strip() == "":
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from(status: int, reason: str, headers: Mapping[str, str], raw: bytes) -> ClawError:
    """The ClawError of an answer that is not 2xx: Claw's error shape, OpenAI's, or a failed turn's."""
    body: Any = None
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        body = None
    code = message = field = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            # Claw's {code, message, field}, OpenAI's {message, type, param, code}, a skill's {code, message}
            code = err.get("code") or err.get("type")
            message = err.get("message")
            field = err.get("field") or err.get("param")
        reply = body.get("reply")
        if message is None and isinstance(reply, dict):
            message = reply.get("text")  # a failed turn says what went wrong in its reply
    if not isinstance(code, str) or not code:
        code = _DEFAULT_CODES.get(status, f"http_{status}")
    if not isinstance(message, str) or not message:
        snippet = raw[:300].decode("utf-8", "replace").strip() if raw and body is None else ""
        message = snippet or reason or f"HTTP {status}"
    return ClawError(
        status,
        code,
        message,
        field if isinstance(field, str) else None,
        parse_retry_after(headers.get("retry-after")),
        wrap(body) if body is not None else None,
        headers,
    )


def decode(status: int, headers: Mapping[str, str], raw: bytes) -> Any:
    """A 2xx body: JSON as Results, other text as str, nothing as None."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
        return wrap(json.loads(text)) if "json" in headers.get("content-type", "") else text
    except ValueError as e:  # UnicodeDecodeError is one
        raise ClawError(status, "bad_response", f"an answer that is not what it says it is: {e}", headers=headers) from e


class Transport:
    """Sends requests to one Claw node, retrying what may be retried."""

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str],
        retries: int,
        timeout: float,
        backoff: float,
        max_backoff: float,
        max_retry_after: float,
        headers: Optional[Mapping[str, str]],
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8080, not {base_url!r}")
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.headers: Dict[str, str] = {"accept": "application/json", "user-agent": f"claw-sdk-python/{__version__}"}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        for k, v in (headers or {}).items():
            self.headers[k.lower()] = v
        self.ssl_context = ssl.create_default_context() if self.scheme == "https" else None

    # -- one attempt -------------------------------------------------------------------------------

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _open(
        self, method: str, target: str, body: Optional[bytes], headers: Dict[str, str], timeout: float
    ) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._connection(timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    # -- the request, with its retries -------------------------------------------------------------

    def delay(self, attempt: int, retry_after: Optional[float]) -> float:
        """How long to wait before retry number ``attempt + 1``: the server's Retry-After (plus up to 10 %
        jitter, so clients it turned away together do not return together), else exponential backoff with
        jitter (between half and all of ``backoff * 2**attempt``, at most ``max_backoff``)."""
        if retry_after is not None:
            return retry_after + random.uniform(0, retry_after * 0.1)
        ceiling = min(self.max_backoff, self.backoff * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        safe: bool = True,
        timeout: Optional[float] = None,
        stream: bool = False,
    ) -> Any:
        """Sends a request and answers its decoded body (``stream``: the open response, to read events from).

        Retried, ``retries`` times at most: a connection refused and a 429 always (the server did nothing
        with the request); network errors, timeouts and 5xx (but 501) only when ``safe`` (sending the
        request again cannot do a thing twice: reads, deletes, and writes made idempotent by a key); never
        an answer that says ``x-should-retry: false``, nor one whose Retry-After exceeds ``max_retry_after``.
        A stream is retried until its answer starts, never after.
        """
        q = {k: v for k, v in (query or {}).items() if v is not None}
        target = self.prefix + path + (("?" + urlencode(q)) if q else "")
        hdrs = dict(self.headers)
        data: Optional[bytes] = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            hdrs["content-type"] = "application/json"
        if stream:
            hdrs["accept"] = "text/event-stream"
        for k, v in (headers or {}).items():
            hdrs[k.lower()] = v
        wait = self.timeout if timeout is None else timeout
        attempt = 0
        while True:
            try:
                conn, resp = self._open(method, target, data, hdrs, wait)
                status, reason = resp.status, resp.reason
                rheaders = {k.lower(): v for k, v in resp.getheaders()}
                if stream and 200 <= status < 300:
                    return _Live(conn, resp)  # closed by whoever reads its events
                try:
                    raw = resp.read()
                finally:
                    conn.close()
            except ssl.SSLCertVerificationError as e:
                raise ClawError(0, "tls_error", f"{method} {path}: {e}") from e
            except (OSError, http.client.HTTPException) as e:
                timed_out = isinstance(e, socket.timeout)
                error = ClawError(0, "timeout" if timed_out else "network_error", f"{method} {path}: {e or type(e).__name__}")
                retry = attempt < self.retries and (safe or isinstance(e, ConnectionRefusedError))
                if not retry:
                    raise error from e
                self._pause(attempt, None, method, path, error)
                attempt += 1
                continue
            if 200 <= status < 300:
                return decode(status, rheaders, raw)
            error = error_from(status, reason, rheaders, raw)
            if attempt < self.retries and self._retryable(status, rheaders, safe, error):
                self._pause(attempt, error.retry_after, method, path, error)
                attempt += 1
                continue
            raise error

    def _retryable(self, status: int, headers: Mapping[str, str], safe: bool, error: ClawError) -> bool:
        if headers.get("x-should-retry") == "false":
            return False
        if error.retry_after is not None and error.retry_after > self.max_retry_after:
            return False
        if status == 429:
            return True
        return safe and status >= 500 and status != 501

    def _pause(self, attempt: int, retry_after: Optional[float], method: str, path: str, error: ClawError) -> None:
        seconds = self.delay(attempt, retry_after)
        log.info(
            "claw: %s %s failed (%s), retry %d of %d in %.2f s",
            method,
            path,
            error,
            attempt + 1,
            self.retries,
            seconds,
            extra={"claw_status": error.status, "claw_code": error.code, "claw_attempt": attempt + 1},
        )
        time.sleep(seconds)


_MAX_LINE = 16 * 1024 * 1024


class _Live:
    """An open streamed answer: its Server-Sent Events, then the connection closed."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self.conn = conn
        self.resp = resp

    def events(self) -> Iterator[Tuple[str, str]]:
        """Each event as (its name, or "message"; its data), until the answer ends."""
        event, data = "message", []
        try:
            while True:
                try:
                    line = self.resp.readline(_MAX_LINE + 1)
                except (OSError, http.client.HTTPException) as e:
                    raise ClawError(0, "network_error", f"the stream broke off: {e or type(e).__name__}") from e
                if not line:
                    break
                if len(line) > _MAX_LINE:
                    raise ClawError(200, "bad_stream", f"a line of the stream is longer than {_MAX_LINE} bytes")
                text = line.decode("utf-8").rstrip("\r\n")
                if text == "":
                    if data:
                        yield event, "\n".join(data)
                    event, data = "message", []
                elif text.startswith(":"):
                    continue  # a comment (keep-alive)
                else:
                    name, _, value = text.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "data":
                        data.append(value)
                    elif name == "event":
                        event = value
            if data:
                yield event, "\n".join(data)
        finally:
            self.close()

    def close(self) -> None:
        self.conn.close()
