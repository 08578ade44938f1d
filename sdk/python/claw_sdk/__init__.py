"""Claw's Python client: ``Claw`` (blocking), ``AsyncClaw`` (asyncio), ``ClawError``, ``verify_webhook``.

Standard library only, Python 3.9 and later. See sdk/python/README.md.
"""
from ._async import AsyncClaw
from ._client import Claw
from ._errors import ClawError
from ._result import Result
from ._transport import __version__
from ._webhooks import verify_webhook

__all__ = ["Claw", "AsyncClaw", "ClawError", "Result", "verify_webhook", "__version__"]
