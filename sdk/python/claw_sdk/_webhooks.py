"""Checking a webhook delivery from Claw: its signature, its timestamp, and (optionally) that it is new.

Claw signs each delivery with ``HMAC-SHA256(secret, "<timestamp>.<body>")`` in hex, sent as
``Claw-Webhook-Signature: sha256=<hex>`` with ``Claw-Webhook-Timestamp`` (seconds since the epoch) and
``Claw-Webhook-Id`` (the same on every attempt of one delivery).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any, Mapping, MutableSet, Optional, Union

_DIGITS = re.compile(r"^[0-9]{1,15}$")


def _header(headers: Any, name: str) -> Optional[str]:
    """A header of a dict (any case), an http.client/email message, or a list of pairs; its first value."""
    getter = getattr(headers, "get", None)
    if getter is not None and not isinstance(headers, Mapping):
        value = getter(name)  # http.client.HTTPMessage, email.message.Message: case-insensitive already
    else:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        value = next((v for k, v in pairs if isinstance(k, str) and k.lower() == name), None)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if isinstance(value, str) else None


def verify_webhook(
    secret: str,
    headers: Any,
    body: Union[bytes, str],
    tolerance_s: float = 300,
    *,
    seen: Optional[MutableSet[str]] = None,
    now: Optional[float] = None,
) -> bool:
    """True when a delivery is Claw's: signed with ``secret``, sent within ``tolerance_s`` seconds of now.

    ``body`` is the request's raw body, exactly as received (bytes, or the same text); ``headers`` a dict
    (any case) or the request's message object. With ``seen`` (a set of delivery ids, kept longer than the
    tolerance), a delivery whose id is in it is refused as a replay, and an accepted one's id is added.
    """
    delivery = _header(headers, "claw-webhook-id")
    stamp = _header(headers, "claw-webhook-timestamp")
    signature = _header(headers, "claw-webhook-signature")
    if not delivery or not stamp or not signature or not _DIGITS.match(stamp.strip()):
        return False
    stamp = stamp.strip()
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance_s:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), stamp.encode("ascii") + b"." + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace")):
        return False
    if seen is not None:
        if delivery in seen:
            return False
        seen.add(delivery)
    return True
