"""AsyncClaw: Claw's methods as coroutines, its iterators as ``async for``.

The same code paths as Claw: each call runs the synchronous one in a worker thread
(``asyncio.to_thread``), so retries, errors and idempotency are the same by construction and the event
loop never blocks on the network. A stream pulls each piece in a worker thread as it comes. Cancelling
a call stops waiting for it; the request already sent runs to its end in its thread (send an
``idempotency_key`` where a retry must not do a thing twice).
"""
from __future__ import annotations

import asyncio
import collections.abc
import functools
import inspect
from typing import Any, AsyncIterator, Callable, Iterator, Optional

from ._client import Claw

_END = object()


async def _aiter(it: Iterator[Any]) -> AsyncIterator[Any]:
    """A blocking iterator as an async one: each ``next`` in a worker thread; closed when left early."""
    try:
        while True:
            item = await asyncio.to_thread(next, it, _END)
            if item is _END:
                return
            yield item
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            try:
                await asyncio.to_thread(close)
            except ValueError:
                pass  # still running in the thread a cancelled wait left behind: it ends with its stream


def _coroutine(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        result = await asyncio.to_thread(method, *args, **kwargs)
        # chat.completions.create(stream=True) answers an iterator: awaited, it is an async one
        return _aiter(result) if inspect.isgenerator(result) else result

    return call


def _async_generator(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def iterate(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        it = await asyncio.to_thread(method, *args, **kwargs)
        async for item in _aiter(it):
            yield item

    return iterate


def _returns_iterator(method: Callable[..., Any]) -> bool:
    """Whether a method of Claw answers an iterator (a generator, or annotated ``-> Iterator[...]``)."""
    if inspect.isgeneratorfunction(method):
        return True
    ret = inspect.signature(method).return_annotation
    return (isinstance(ret, str) and ret.startswith("Iterator[")) or getattr(ret, "__origin__", None) is collections.abc.Iterator


class _AsyncNamespace:
    """The async face of one of Claw's namespaces: every public method of it, and its sub-namespaces."""

    def __init__(self, sync: Any) -> None:
        for name in dir(type(sync)):
            if name.startswith("_"):
                continue
            member = getattr(sync, name)
            if inspect.ismethod(member):
                setattr(self, name, _async_generator(member) if _returns_iterator(member) else _coroutine(member))
        for name, value in vars(sync).items():
            if not name.startswith("_") and not callable(value):
                setattr(self, name, _AsyncNamespace(value))


class AsyncClaw:
    """Claw for asyncio: ``await claw.agents.invoke(...)``, ``async for piece in claw.agents.stream(...)``,
    ``async for agent in claw.agents.list()``. Takes the same arguments as Claw."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080", api_key: Optional[str] = None, **options: Any) -> None:
        self._sync = Claw(base_url, api_key, **options)
        for name, value in vars(self._sync).items():
            if not name.startswith("_"):
                setattr(self, name, _AsyncNamespace(value))
        self.openapi = _coroutine(self._sync.openapi)
        self.metrics = _coroutine(self._sync.metrics)

    async def __aenter__(self) -> "AsyncClaw":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None


__all__ = ["AsyncClaw"]
