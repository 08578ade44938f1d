"""The client's rules without a node: which failures are retried for which requests, how long it waits,
what a ClawError carries, results' attribute access, and verify_webhook's checks. A scripted server
stands in for the node."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import socket
import time

import pytest

from claw_sdk import AsyncClaw, Claw, ClawError, Result, verify_webhook
from support import ScriptedApi

OK_INVOKE = (200, {}, {"message_id": "m1", "session": "s", "reply": {"id": "r", "kind": "reply", "text": "hi", "ts": 1}})
FAILED_FOR_GOOD = (
    502,
    {"x-should-retry": "false"},
    {"message_id": "m", "session": "s", "reply": {"text": "the model refused"}, "error": {"code": "llm_rejected", "retryable": False}},
)
UNAVAILABLE = (503, {"retry-after": "0.2"}, {"error": {"code": "unavailable", "message": "messages cannot be accepted now"}})


@pytest.fixture
def api():
    servers = []

    def make(*script):
        servers.append(ScriptedApi(*script))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def client(api: ScriptedApi, **options) -> Claw:
    return Claw(api.url, **{"retries": 3, "backoff": 0.01, "max_backoff": 0.02, **options})


def test_retry_after_is_honoured(api) -> None:
    server = api((503, {"retry-after": "1"}, {"error": {"code": "unavailable", "message": "later"}}), (202, {}, {"message_id": "x", "duplicate": False}))
    started = time.monotonic()
    client(server).messages.publish(chat="c", text="t")
    waited = server.requests[1]["at"] - server.requests[0]["at"]
    assert 1.0 <= waited < 1.5, waited
    assert time.monotonic() - started < 3


def test_publish_sends_one_key_on_every_retry(api) -> None:
    server = api(UNAVAILABLE, (500, {}, {"error": {"code": "internal", "message": "oops"}}), "hangup", (202, {}, {"message_id": "x", "duplicate": True}))
    assert client(server).messages.publish(chat="c", text="t").duplicate is True
    keys = {r["body"]["idempotency_key"] for r in server.requests}
    assert len(server.requests) == 4 and len(keys) == 1
    # and a key given is the key sent
    server.script = [(202, {}, {"message_id": "mine", "duplicate": False})]
    client(server).messages.publish(chat="c", text="t", idempotency_key="mine")
    assert server.requests[-1]["body"]["idempotency_key"] == "mine"


def test_invoke_is_retried_only_with_an_idempotency_key(api) -> None:
    without = api(UNAVAILABLE, OK_INVOKE)
    with pytest.raises(ClawError) as e:
        client(without).agents.invoke("a", text="t")
    assert (e.value.status, e.value.code, len(without.requests)) == (503, "unavailable", 1)
    hangup = api("hangup", OK_INVOKE)
    with pytest.raises(ClawError) as lost:
        client(hangup).agents.invoke("a", text="t")
    assert (lost.value.status, lost.value.code, len(hangup.requests)) == (0, "network_error", 1)

    keyed = api(UNAVAILABLE, "hangup", (504, {}, {"error": {"code": "timeout", "message": "no reply"}}), OK_INVOKE)
    assert client(keyed).agents.invoke("a", text="t", idempotency_key="k").reply.text == "hi"
    assert len(keyed.requests) == 4 and {r["body"]["idempotency_key"] for r in keyed.requests} == {"k"}


def test_429_is_retried_even_where_nothing_else_is(api) -> None:
    server = api((429, {"retry-after": "0.1"}, {"error": {"code": "rate_limited", "message": "slow down"}}), OK_INVOKE)
    assert client(server).agents.invoke("a", text="t").reply.text == "hi"
    assert len(server.requests) == 2


def test_what_is_never_retried(api) -> None:
    for answer in [
        (400, {}, {"error": {"code": "invalid_body", "message": "text: must not be empty", "field": "text"}}),
        (404, {}, {"error": {"code": "no_agent", "message": "no agent named a"}}),
        # a turn that failed for good says so
        FAILED_FOR_GOOD,
        # a wait longer than max_retry_after is the caller's to decide
        (503, {"retry-after": "120"}, {"error": {"code": "unavailable", "message": "later"}}),
    ]:
        server = api(answer, OK_INVOKE)
        with pytest.raises(ClawError) as e:
            client(server).agents.invoke("a", text="t", idempotency_key="k")
        assert len(server.requests) == 1, answer
        assert e.value.status == answer[0]
    assert (e.value.retry_after, e.value.code) == (120, "unavailable")


def test_a_failed_turn_and_an_openai_error_as_claw_errors(api) -> None:
    failed = api(FAILED_FOR_GOOD)
    with pytest.raises(ClawError) as e:
        client(failed).agents.invoke("a", text="t")
    assert (e.value.status, e.value.code, e.value.message, e.value.body.session) == (502, "llm_rejected", "the model refused", "s")
    openai = api((400, {}, {"error": {"message": "messages: required", "type": "invalid_request_error", "param": "messages", "code": "invalid_request"}}))
    with pytest.raises(ClawError) as o:
        client(openai).chat.completions.create(model="a", messages=[])
    assert (o.value.code, o.value.field) == ("invalid_request", "messages")
    text = api((500, {"content-type": "text/plain"}, b"upstream exploded"))
    with pytest.raises(ClawError) as t:
        client(text, retries=0).agents.get("a")
    assert (t.value.status, t.value.code, t.value.message) == (500, "http_500", "upstream exploded")


def test_reads_are_retried_through_network_errors_and_5xx_until_retries_run_out(api) -> None:
    server = api("hangup", (500, {}, {"error": {"code": "internal", "message": "oops"}}), (200, {}, {"spec": {"id": "a"}}))
    assert client(server).agents.get("a").spec.id == "a"
    down = api(UNAVAILABLE)
    with pytest.raises(ClawError) as e:
        client(down, retries=2).agents.get("a")
    assert (e.value.status, len(down.requests)) == (503, 3)


def test_a_refused_connection_is_retried_for_anything(api) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ClawError) as e:
        Claw(f"http://127.0.0.1:{port}", retries=2, backoff=0.2, max_backoff=0.2).webhooks.create(url="http://x", events=["reply"])
    assert (e.value.status, e.value.code) == (0, "network_error")
    assert time.monotonic() - started >= 0.2, "two waits of 0.1 to 0.2 s"


def test_backoff_grows_with_jitter_up_to_its_ceiling() -> None:
    t = Claw("http://127.0.0.1:1", backoff=0.5, max_backoff=4)._transport
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        waits = {t.delay(attempt, None) for _ in range(50)}
        assert all(ceiling / 2 <= w <= ceiling for w in waits) and len(waits) > 1
    assert all(2 <= t.delay(0, 2.0) <= 2.2 for _ in range(50)), "Retry-After, and at most 10 % more"


def test_pages_follow_next_cursor_and_results_read_as_attributes(api) -> None:
    server = api(
        (200, {}, {"agents": [{"spec": {"id": "a"}, "updatedAt": 5}], "next_cursor": "c1", "routing": []}),
        (200, {}, {"agents": [{"spec": {"id": "b"}}], "next_cursor": None, "routing": []}),
    )
    agents = list(client(server).agents.list(page_size=1))
    assert [a.spec.id for a in agents] == ["a", "b"]
    assert [r["path"] for r in server.requests] == ["/v1/agents?limit=1", "/v1/agents?limit=1&cursor=c1"]
    assert agents[0].updated_at == agents[0]["updatedAt"] == 5 and isinstance(agents[0], Result)
    with pytest.raises(AttributeError):
        agents[1].updated_at


def test_credentials_paths_and_async_methods(api) -> None:
    server = api((200, {}, {"spec": {"id": "a/b c"}}))
    Claw(server.url + "/prefix", api_key="claw_k1").agents.get("a/b c")
    assert server.requests[0]["path"] == "/prefix/v1/agents/a%2Fb%20c"
    assert server.requests[0]["headers"]["authorization"] == "Bearer claw_k1"
    claw = AsyncClaw(server.url)
    assert inspect.iscoroutinefunction(claw.agents.invoke) and inspect.isasyncgenfunction(claw.agents.stream)
    assert asyncio.run(claw.agents.get("a")).spec.id == "a/b c"
    with pytest.raises(ValueError):
        Claw("localhost:8080")


def sign(secret: str, stamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_verify_webhook() -> None:
    now = int(time.time())
    body = b'{"type":"reply","id":"d1"}'
    headers = {"Claw-Webhook-Id": "d1", "Claw-Webhook-Timestamp": str(now), "Claw-Webhook-Signature": sign("s3cret", now, body)}
    assert verify_webhook("s3cret", headers, body)
    assert verify_webhook("s3cret", [(k.upper(), v) for k, v in headers.items()], body.decode())
    assert not verify_webhook("s3cret", headers, body + b" ")
    good = sign("s3cret", now, body)
    assert not verify_webhook("s3cret", {**headers, "Claw-Webhook-Signature": good[:-1] + ("1" if good.endswith("0") else "0")}, body)
    assert not verify_webhook("s3cret", {k: v for k, v in headers.items() if k != "Claw-Webhook-Id"}, body)
    assert not verify_webhook("s3cret", {**headers, "Claw-Webhook-Timestamp": "soon"}, body)
    old = now - 301
    stale = {**headers, "Claw-Webhook-Timestamp": str(old), "Claw-Webhook-Signature": sign("s3cret", old, body)}
    assert not verify_webhook("s3cret", stale, body)
    assert verify_webhook("s3cret", stale, body, tolerance_s=400)
