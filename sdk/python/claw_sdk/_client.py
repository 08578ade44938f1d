"""Claw: the synchronous client, one namespace per part of the API (``claw.agents.invoke(...)``)."""
from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

from ._errors import ClawError
from ._result import Result, wrap
from ._transport import Transport, path_of

Json = Dict[str, Any]


def _drop_none(d: Mapping[str, Any]) -> Json:
    return {k: v for k, v in d.items() if v is not None}


def _server_wait(timeout_ms: Optional[int], transport: Transport) -> float:
    """The HTTP timeout of a call the server bounds by ``timeout_ms`` (30 s when not given): that, and a
    margin for the answer to come back — so the server's 504 arrives, not the client's timeout."""
    return max(transport.timeout, (30_000 if timeout_ms is None else timeout_ms) / 1000 + 10)


# the OpenAI-compatible routes wait up to 120 s for a turn's reply (and, streaming, between pieces)
_TURN_WAIT_S = 130.0


def _session_headers(session: Optional[str], body: Json) -> Dict[str, str]:
    """Names the session of an OpenAI-compatible call: as ``X-Claw-Session`` (the sender stays "http", as
    with invoke) when it can be a header, else as ``user`` in the body (a header carries no Unicode)."""
    if not session:
        return {}
    if session.isascii() and session.isprintable():
        return {"x-claw-session": session}
    body.setdefault("user", session)
    return {}


class _Namespace:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def _pages(self, path: str, key: str, page_size: Optional[int], query: Optional[Mapping[str, Any]] = None) -> Iterator[Result]:
        """Every item of a list, page after page (``?limit`` = ``page_size``, ``?cursor`` = the last page's ``next_cursor``)."""
        cursor: Optional[str] = None
        while True:
            page = self._t.send("GET", path, query={**(query or {}), "limit": page_size, "cursor": cursor})
            for item in page.get(key) or []:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return


class Messages(_Namespace):
    """``POST /v1/messages``: messages into a chat, as any channel's would come in."""

    def publish(
        self,
        chat: str,
        text: Optional[str] = None,
        *,
        channel: Optional[str] = None,
        account: Optional[str] = None,
        sender: Optional[Mapping[str, Any]] = None,
        media: Optional[List[Mapping[str, Any]]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
    ) -> Result:
        """Sends a message into ``chat``; answers ``message_id`` and ``duplicate`` once the node has it durably.

        Without ``idempotency_key`` one is made here, and the same key goes with every retry of this call:
        a retry after a lost answer is absorbed as a duplicate, never a second message.
        """
        key = idempotency_key or f"sdk-{uuid.uuid4()}"
        body = _drop_none(
            {"chat": chat, "text": text, "channel": channel, "account": account, "sender": sender, "media": media, "metadata": metadata, "idempotency_key": key}
        )
        return self._t.send("POST", "/v1/messages", body=body, safe=True)


class Agents(_Namespace):
    """``/v1/agents``: invoke an agent, stream its reply, list, get and register agents."""

    def invoke(
        self,
        agent: str,
        text: str,
        *,
        session: Optional[str] = None,
        sender: Optional[Mapping[str, Any]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        timeout_ms: Optional[int] = None,
    ) -> Result:
        """Sends ``text`` to ``agent`` and waits for its reply: ``message_id``, ``session``, ``reply.text``.

        Retried only with an ``idempotency_key`` (then a retry is the same turn, answered with its reply);
        without one a retry could be a second turn, so only a refused connection or a 429 is retried.
        A failed turn raises ClawError (502 for good, 503 transient) with its code; its reply is in ``.body``.
        """
        body = _drop_none(
            {"text": text, "session": session, "sender": sender, "metadata": metadata, "idempotency_key": idempotency_key, "timeout_ms": timeout_ms}
        )
        return self._t.send(
            "POST", path_of("/v1/agents/{}/invoke", agent), body=body, safe=idempotency_key is not None, timeout=_server_wait(timeout_ms, self._t)
        )

    def stream(self, agent: str, text: str, *, session: Optional[str] = None, idempotency_key: Optional[str] = None) -> Iterator[str]:
        """Sends ``text`` to ``agent`` and yields its reply's text as the model writes it (through
        ``/v1/chat/completions``, in the same session as ``invoke`` with that ``session``)."""
        body: Json = {"model": agent, "messages": [{"role": "user", "content": text}], "stream": True}
        chunks = _completions(self._t, body, _session_headers(session, body), idempotency_key)
        for chunk in chunks:
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    yield piece

    def list(self, *, page_size: Optional[int] = None) -> Iterator[Result]:
        """Every registered agent (``{spec, source, priority, updatedAt}``), in the order they answer, page after page."""
        return self._pages("/v1/agents", "agents", page_size)

    def get(self, agent: str) -> Result:
        """One agent: ``{spec, source, priority, updatedAt}``; ClawError 404 when there is none."""
        return self._t.send("GET", path_of("/v1/agents/{}", agent))

    def register(self, spec: Mapping[str, Any]) -> Result:
        """Registers (or changes) an agent on every node: ``spec`` has the fields of an agent (docs/agents.md), and ``priority``."""
        return self._t.send("POST", "/v1/agents", body=dict(spec), safe=True)


def _completions(t: Transport, body: Json, headers: Dict[str, str], idempotency_key: Optional[str]) -> Iterator[Result]:
    """The chunks of a streamed chat completion; an error the stream carries raises ClawError."""
    if idempotency_key:
        headers = {**headers, "idempotency-key": idempotency_key}
    safe = idempotency_key is not None
    live = t.send("POST", "/v1/chat/completions", body=body, headers=headers, safe=safe, stream=True, timeout=max(t.timeout, _TURN_WAIT_S))
    return _json_events(live)


def _json_events(live: Any) -> Iterator[Result]:
    """The JSON events of a stream until ``[DONE]``; a failure the stream tells of raises ClawError (the
    answer had started with 200, so only the stream can say it): chat completions' ``{error}``, the
    Responses API's ``error`` and ``response.failed`` events."""
    try:
        for _name, data in live.events():
            if data == "[DONE]":
                return
            try:
                value = wrap(json.loads(data))
            except ValueError as e:
                raise ClawError(200, "bad_stream", f"an event that is not JSON: {data[:200]!r}") from e
            if not isinstance(value, Result):
                continue
            kind = value.get("type")
            err = value.get("error")
            if kind == "response.failed":
                err = (value.get("response") or {}).get("error") or {}
            elif kind != "error" and not isinstance(err, dict):
                yield value
                continue
            if kind == "error":
                err = value
            raise ClawError(200, err.get("code") or err.get("type") or "stream_error", err.get("message") or "the stream failed", body=value)
    finally:
        live.close()


class Completions(_Namespace):
    def create(
        self,
        model: str,
        messages: List[Mapping[str, Any]],
        *,
        stream: bool = False,
        user: Optional[str] = None,
        session: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        **extra: Any,
    ) -> Union[Result, Iterator[Result]]:
        """OpenAI's chat completions: ``model`` is the agent, ``user`` (or ``session``, sent as X-Claw-Session)
        the session. Answers the ``chat.completion``; with ``stream=True`` an iterator of ``chat.completion.chunk``."""
        body = _drop_none({"model": model, "messages": list(messages), "user": user, **extra})
        headers = _session_headers(session, body)
        if stream:
            return _completions(self._t, {**body, "stream": True}, headers, idempotency_key)
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        wait = max(self._t.timeout, _TURN_WAIT_S)
        return self._t.send("POST", "/v1/chat/completions", body=body, headers=headers, safe=idempotency_key is not None, timeout=wait)


class Chat:
    """``/v1/chat/completions`` as ``claw.chat.completions.create(...)``."""

    def __init__(self, transport: Transport) -> None:
        self.completions = Completions(transport)


class Responses(_Namespace):
    def create(
        self,
        model: str,
        input: Union[str, List[Mapping[str, Any]]],
        *,
        stream: bool = False,
        user: Optional[str] = None,
        previous_response_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        **extra: Any,
    ) -> Union[Result, Iterator[Result]]:
        """OpenAI's Responses API (text): answers the ``response``; with ``stream=True`` an iterator of its
        events, each with its ``type`` (``response.output_text.delta`` …)."""
        body = _drop_none({"model": model, "input": input, "user": user, "previous_response_id": previous_response_id, **extra})
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        safe = idempotency_key is not None
        wait = max(self._t.timeout, _TURN_WAIT_S)
        if stream:
            live = self._t.send("POST", "/v1/responses", body={**body, "stream": True}, headers=headers, safe=safe, stream=True, timeout=wait)
            return _json_events(live)
        return self._t.send("POST", "/v1/responses", body=body, headers=headers, safe=safe, timeout=wait)


class Models(_Namespace):
    """``/v1/models``: the agents the caller may invoke, as OpenAI's models."""

    def list(self) -> Iterator[Result]:
        """Every model (``{id, object, created, owned_by}``)."""
        return iter(self._t.send("GET", "/v1/models").get("data") or [])

    def get(self, model: str) -> Result:
        return self._t.send("GET", path_of("/v1/models/{}", model))


class Skills(_Namespace):
    """``/v1/skills``: run, list, get and register skills."""

    def invoke(self, skill: str, input: Any = None, *, version: Optional[str] = None, timeout_ms: Optional[int] = None) -> Any:
        """Runs ``skill`` on whichever node can and answers its output. A skill that ran and failed raises
        ClawError 422 with its code (``timeout``, ``denied``, ``exit`` …). Not retried once sent (a skill may
        do a thing twice) — only a refused connection or a 429."""
        body = _drop_none({"input": {} if input is None else input, "version": version, "timeout_ms": timeout_ms})
        r = self._t.send("POST", path_of("/v1/skills/{}/invoke", skill), body=body, safe=False, timeout=_server_wait(timeout_ms, self._t))
        return r.get("output")

    def list(self, *, page_size: Optional[int] = None) -> Iterator[Result]:
        """Every registered skill version (its descriptor, ``source``, ``digest``, ``updatedAt``)."""
        return self._pages("/v1/skills", "skills", page_size)

    def get(self, skill: str) -> Result:
        """One skill: ``{id, versions: [...]}``, oldest first."""
        return self._t.send("GET", path_of("/v1/skills/{}", skill))

    def register(self, descriptor: Mapping[str, Any], files: Optional[Mapping[str, Union[bytes, str]]] = None) -> Result:
        """Registers a skill version: ``descriptor`` has the skill.json fields, ``files`` maps a path to its
        content (bytes, or text as UTF-8). The same content again is unchanged, so this is safe to retry."""
        encoded = {p: base64.b64encode(c if isinstance(c, bytes) else c.encode("utf-8")).decode("ascii") for p, c in (files or {}).items()}
        return self._t.send("POST", "/v1/skills", body={**descriptor, "files": encoded}, safe=True)


class Channels(_Namespace):
    def list(self, *, page_size: Optional[int] = None) -> Iterator[Result]:
        """Every channel account of the cluster, the node running it and its state."""
        return self._pages("/v1/channels", "channels", page_size)


class DeadLetters(_Namespace):
    """``/v1/dlq``: the dead letters, and replaying one."""

    def list(self, *, stage: Optional[str] = None, page_size: Optional[int] = None) -> Iterator[Result]:
        """Every dead letter (of ``stage``, or all), oldest first."""
        return self._pages("/v1/dlq", "dead_letters", page_size, {"stage": stage})

    def get(self, seq: int) -> Result:
        """One dead letter, with every header."""
        return self._t.send("GET", path_of("/v1/dlq/{}", seq))

    def replay(self, seq: int, *, to: Optional[str] = None, keep: Optional[bool] = None) -> Result:
        """Republishes a dead letter to its original subject (or ``to``), then removes it unless ``keep``:
        ``{subject, duplicate}`` (a second replay inside the duplicate window is absorbed)."""
        return self._t.send("POST", path_of("/v1/dlq/{}/replay", seq), body=_drop_none({"to": to, "keep": keep}), safe=True)


class Webhooks(_Namespace):
    """``/v1/webhooks``: subscriptions to events (``reply``, ``dead_letter``), POSTed signed to a URL."""

    def create(
        self,
        url: str,
        events: List[str],
        *,
        secret: Optional[str] = None,
        agents: Optional[List[str]] = None,
        description: Optional[str] = None,
    ) -> Result:
        """Subscribes ``url``; answers ``id`` and ``secret`` (shown this once: check deliveries with
        ``verify_webhook``). Not retried once sent (a retry could subscribe twice)."""
        body = _drop_none({"url": url, "events": list(events), "secret": secret, "agents": agents, "description": description})
        return self._t.send("POST", "/v1/webhooks", body=body, safe=False)

    def list(self, *, page_size: Optional[int] = None) -> Iterator[Result]:
        """Every subscription (without secrets)."""
        return self._pages("/v1/webhooks", "webhooks", page_size)

    def delete(self, webhook: str) -> None:
        """Removes a subscription (its waiting deliveries are dropped); ClawError 404 when there is none."""
        self._t.send("DELETE", path_of("/v1/webhooks/{}", webhook))


class Schedules(_Namespace):
    """``/v1/schedules``: messages put into a chat at a time, every so often, or on a cron pattern."""

    def create(
        self,
        address: Mapping[str, str],
        text: str,
        *,
        at: Optional[str] = None,
        every: Optional[Union[str, int]] = None,
        cron: Optional[str] = None,
        tz: Optional[str] = None,
        agent: Optional[str] = None,
        sender: Optional[str] = None,
        missed: Optional[str] = None,
    ) -> Result:
        """Schedules ``text`` into ``address`` (``{channel, account, chat}``): one of ``at`` (ISO-8601 with its
        offset), ``every`` ("30s", "5m", or ms) or ``cron`` (with ``tz``); answers the schedule with ``id`` and
        ``next``. Not retried once sent (a retry could schedule twice)."""
        body = _drop_none(
            {
                "address": dict(address),
                "text": text,
                "at": at,
                "every": every,
                "cron": cron,
                "tz": tz,
                "agent": agent,
                "sender": sender,
                "missed": missed,
            }
        )
        return self._t.send("POST", "/v1/schedules", body=body, safe=False)

    def list(self, *, page_size: Optional[int] = None) -> Iterator[Result]:
        """Every schedule, oldest first."""
        return self._pages("/v1/schedules", "schedules", page_size)

    def get(self, schedule: str) -> Result:
        """One schedule (a one-time schedule is gone once it fired: ClawError 404)."""
        return self._t.send("GET", path_of("/v1/schedules/{}", schedule))

    def delete(self, schedule: str) -> None:
        """Deletes a schedule: no occurrence after this; ClawError 404 when there is none."""
        self._t.send("DELETE", path_of("/v1/schedules/{}", schedule))


class Memory(_Namespace):
    """``/v1/agents/{id}/memory``: what an agent remembers (its ``memory.*`` skills), and forgetting it."""

    def list(
        self,
        agent: str,
        *,
        channel: Optional[str] = None,
        account: Optional[str] = None,
        chat: Optional[str] = None,
        sender: Optional[str] = None,
        q: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Result:
        """The agent's memories by scope (``{agent, scopes: [{scope, memories}]}``): every scope, one sender's
        (``channel``, ``sender``), one chat's (``channel``, ``account``, ``chat``), or the best matches for ``q``."""
        query = _drop_none({"channel": channel, "account": account, "chat": chat, "sender": sender, "q": q, "limit": limit})
        return self._t.send("GET", path_of("/v1/agents/{}/memory", agent), query=query)

    def forget(self, agent: str, memory: str) -> None:
        """Forgets one memory; ClawError 404 when the agent has none by that id."""
        self._t.send("DELETE", path_of("/v1/agents/{}/memory/{}", agent, memory))


class Usage(_Namespace):
    """``/v1/usage``: model calls, tokens, turns, skill runs and messages per UTC day, tenant and agent."""

    def get(
        self, *, tenant: Optional[str] = None, agent: Optional[str] = None, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Result:
        """The usage of days ``from_`` to ``to`` (``YYYY-MM-DD``; default the last 30), of one tenant or agent when given
        (a tenant's credential gets its own tenant's): ``{from, to, usage: [{day, tenant, agent, model_calls, prompt_tokens,
        completion_tokens, turns, skill_invocations, skill_seconds, messages_in, messages_out}]}``."""
        return self._t.send("GET", "/v1/usage", query={"tenant": tenant, "agent": agent, "from": from_, "to": to})


class Approvals(_Namespace):
    """``/v1/approvals``: tool calls an agent's ``approve`` holds back until a human decides."""

    def list(self, *, agent: Optional[str] = None, session: Optional[str] = None) -> List[Result]:
        """The calls waiting for a decision, oldest first (of one agent, one session)."""
        page = self._t.send("GET", "/v1/approvals", query=_drop_none({"agent": agent, "session": session}))
        return list(page["approvals"])

    def decide(self, approval: str, decision: str, *, by: Optional[str] = None, reason: Optional[str] = None) -> Result:
        """``decision`` "approve" (the tool runs) or "deny" (the model reads ``denied by <by>: <reason>``). Each
        approval is decided once: a second decision raises ClawError 409 ``approval_decided``. Not retried once sent."""
        body = _drop_none({"decision": decision, "by": by, "reason": reason})
        return self._t.send("POST", path_of("/v1/approvals/{}", approval), body=body, safe=False)


class Claw:
    """A client of one Claw node (or a cluster behind one address).

    ``api_key`` goes as ``Authorization: Bearer``; ``retries`` is how many times a failed request is sent
    again (see the README: which failures, and which requests); ``timeout`` bounds each request in seconds
    (calls with ``timeout_ms`` wait that long, and a margin). ``backoff``/``max_backoff`` shape the waits
    between retries, when the server gives no Retry-After; a Retry-After beyond ``max_retry_after``
    seconds is not waited for (the ClawError is raised, with ``retry_after``).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        api_key: Optional[str] = None,
        *,
        retries: int = 3,
        timeout: float = 30.0,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 60.0,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        t = Transport(base_url, api_key, retries, timeout, backoff, max_backoff, max_retry_after, headers)
        self._transport = t
        self.messages = Messages(t)
        self.agents = Agents(t)
        self.chat = Chat(t)
        self.responses = Responses(t)
        self.models = Models(t)
        self.skills = Skills(t)
        self.channels = Channels(t)
        self.dlq = DeadLetters(t)
        self.webhooks = Webhooks(t)
        self.schedules = Schedules(t)
        self.memory = Memory(t)
        self.usage = Usage(t)
        self.approvals = Approvals(t)

    def openapi(self) -> Result:
        """The node's OpenAPI 3.1 document (``/openapi.json``)."""
        return self._transport.send("GET", "/openapi.json")

    def metrics(self) -> str:
        """The node's Prometheus metrics, as text."""
        return self._transport.send("GET", "/metrics", headers={"accept": "text/plain"})

    def __enter__(self) -> "Claw":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None
