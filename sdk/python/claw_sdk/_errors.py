"""ClawError: every failure the client raises, whatever its cause (an HTTP answer, or none)."""
from __future__ import annotations

from typing import Any, Mapping, Optional


class ClawError(Exception):
    """A request that failed.

    ``status`` is the HTTP status (0 when no answer came: a network error or a timeout), ``code`` the
    API's stable error code (``no_agent``, ``unavailable``, ``invalid_body`` …; ``network_error`` and
    ``timeout`` without an answer), ``field`` the offending field of a 400, ``retry_after`` the seconds
    the server asked to wait (``Retry-After``), and ``body`` the decoded answer when there was one.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: Optional[str] = None,
        retry_after: Optional[float] = None,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after
        self.body = body
        self.headers = dict(headers or {})

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        status = f"{self.status} " if self.status else ""
        return f"{status}{self.code}: {self.message}{where}"

    def __repr__(self) -> str:
        return f"ClawError(status={self.status!r}, code={self.code!r}, message={self.message!r}, field={self.field!r}, retry_after={self.retry_after!r})"
