"""The SDK against a real Claw node (conftest.py starts it on its own nats-server): every part of the API
a client uses, through Claw and AsyncClaw."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import pytest

from claw_sdk import AsyncClaw, Claw, ClawError, verify_webhook
from support import Proxy, until


@pytest.fixture
def claw(node) -> Claw:
    return Claw(node.url, retries=2, timeout=60)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def history(claw: Claw, chat: str) -> str:
    """What the echo agent remembers of ``chat`` (its /history command), asked after everything sent there
    (one session's messages are taken in order)."""
    return claw.agents.invoke("echo", text="/history", session=chat).reply.text


def test_publish_twice_with_one_key_makes_one_message(claw: Claw) -> None:
    chat = fresh("order")
    first = claw.messages.publish(chat=chat, account="echo", text="hello", idempotency_key="k1-" + chat)
    again = claw.messages.publish(chat=chat, account="echo", text="hello", idempotency_key="k1-" + chat)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert first.message_id == again.message_id == "k1-" + chat
    assert history(claw, chat) == "1 earlier turns\n1. hello"


def test_publish_retried_after_a_lost_answer_is_one_message(node) -> None:
    # the node takes the message, but its answer never comes back: the SDK sends it again with the key it made
    proxy = Proxy(node.url)
    try:
        proxy.drop = 1
        claw = Claw(proxy.url, retries=2, backoff=0.05)
        chat = fresh("lost")
        r = claw.messages.publish(chat=chat, account="echo", text="only once")
        assert r.duplicate is True, "the retry was absorbed as the first try's duplicate"
        keys = [json.loads(b)["idempotency_key"] for b in proxy.bodies]
        assert len(keys) == 2 and keys[0] == keys[1] and keys[0].startswith("sdk-")
        assert r.message_id == keys[0]
        assert history(Claw(node.url), chat) == "1 earlier turns\n1. only once"
    finally:
        proxy.close()


def test_invoke(claw: Claw) -> None:
    session = fresh("s")
    r = claw.agents.invoke("echo", text="hi there", session=session, metadata={"from": "sdk"})
    assert r.session == session
    assert r.reply.text == "hi there" and r.reply.kind == "reply"
    assert r.message_id
    # the same key is the same turn, answered with its reply
    a = claw.agents.invoke("echo", text="once", session=session, idempotency_key="turn-1")
    b = claw.agents.invoke("echo", text="once", session=session, idempotency_key="turn-1")
    assert a.message_id == b.message_id and b.reply.text == "once"


def test_stream_yields_the_text_as_the_model_writes_it(claw: Claw, model) -> None:
    model.hold = threading.Event()
    try:
        pieces = []
        for piece in claw.agents.stream("writer", text="write", session=fresh("st")):
            if not pieces:
                # the model has written one piece and waits: the SDK yielded it before the rest existed
                assert not model.hold.is_set()
                model.hold.set()
            pieces.append(piece)
        assert model.released is True, "the first piece came while the model was still writing"
        assert len(pieces) > 1
        assert "".join(pieces) == model.text
    finally:
        model.hold = model.released = None


def test_stream_and_invoke_share_a_session(claw: Claw) -> None:
    for session in (fresh("shared"), fresh("geteilt-ü")):  # a header, and (Unicode) the body's user
        assert "".join(claw.agents.stream("echo", text="first", session=session)) == "first"
        assert claw.agents.invoke("echo", text="/history", session=session).reply.text == "1 earlier turns\n1. first"


def test_a_list_longer_than_a_page(claw: Claw) -> None:
    made = [fresh("pager") for _ in range(5)]
    for agent in made:
        assert claw.agents.register({"id": agent}).spec.id == agent
    first_page = claw._transport.send("GET", "/v1/agents", query={"limit": 2})
    assert len(first_page.agents) == 2 and first_page.next_cursor, "a page of 2 has more after it"
    paged = [a.spec.id for a in claw.agents.list(page_size=2)]
    assert set(made) <= set(paged)
    assert paged == [a.spec.id for a in claw.agents.list()], "every page, in order, once"
    assert claw.agents.get(made[0]).spec.id == made[0]
    skills = [s.id for s in claw.skills.list(page_size=1)]
    assert "time.now" in skills and len(skills) > 1


def test_a_skill(claw: Claw) -> None:
    out = claw.skills.invoke("time.now", {})
    assert abs(out.epoch_ms / 1000 - time.time()) < 60 and out.iso.endswith("Z")
    assert claw.skills.invoke("time.now", {"timezone": "Europe/Berlin"}, version="1.0.0", timeout_ms=10_000).timezone == "Europe/Berlin"
    with pytest.raises(ClawError) as failed:
        claw.skills.invoke("time.now", {"timezone": "Nowhere/Else"})
    assert (failed.value.status, failed.value.code) == (422, "exit")
    assert [v.version for v in claw.skills.get("time.now").versions] == ["1.0.0"]
    skill = fresh("sdk.hello")
    descriptor = {"id": skill, "version": "1.0.0", "description": "says hello", "runtime": "node", "entrypoint": ["index.mjs"]}
    files = {"index.mjs": "process.stdout.write(JSON.stringify({ hello: 'world' }))\n"}
    claw.skills.register(descriptor, files)
    assert [v.version for v in claw.skills.get(skill).versions] == ["1.0.0"]


def test_errors_are_claw_errors(claw: Claw) -> None:
    with pytest.raises(ClawError) as missing:
        claw.agents.get("nobody-" + uuid.uuid4().hex)
    e = missing.value
    assert (e.status, e.code) == (404, "no_agent") and "nobody" in e.message
    with pytest.raises(ClawError) as no_skill:
        claw.skills.invoke("no.such.skill", {})
    assert (no_skill.value.status, no_skill.value.code) == (404, "no_skill")
    with pytest.raises(ClawError) as invalid:
        claw.messages.publish(chat="", text="x")
    assert (invalid.value.status, invalid.value.field) == (400, "chat")
    with pytest.raises(ClawError) as openai_shaped:
        claw.models.get("gpt-9")
    assert (openai_shaped.value.status, openai_shaped.value.code) == (404, "model_not_found")
    assert claw.approvals.list(agent="echo") == []
    with pytest.raises(ClawError) as no_approval:
        claw.approvals.decide("ap" + "0" * 24, "approve", by="py")
    assert (no_approval.value.status, no_approval.value.code) == (404, "no_approval")
    with pytest.raises(ClawError) as bad_decision:
        claw.approvals.decide("ap" + "0" * 24, "perhaps")
    assert (bad_decision.value.status, bad_decision.value.code) == (422, "invalid_body")


def test_a_real_webhook_delivery_is_verified_and_a_tampered_one_refused(claw: Claw, receiver) -> None:
    hook = claw.webhooks.create(url=receiver.url, events=["reply"], description="sdk test")
    try:
        assert hook.id.startswith("wh") and hook.secret
        listed = [w for w in claw.webhooks.list() if w.id == hook.id]
        assert len(listed) == 1 and "secret" not in listed[0]
        text = fresh("hook me")
        claw.agents.invoke("echo", text=text, session=fresh("h"))
        delivery = until(lambda: next((d for d in list(receiver.deliveries) if text.encode() in d["body"]), None), "the reply's delivery")
        headers, body = delivery["headers"], delivery["body"]
        assert verify_webhook(hook.secret, headers, body, tolerance_s=300)
        assert verify_webhook(hook.secret, dict(headers.items()), body.decode())  # a plain dict, and text
        assert not verify_webhook(hook.secret, headers, body.replace(text.encode(), b"tampered"))
        stamp = int(headers["Claw-Webhook-Timestamp"])
        moved = {**{k.lower(): v for k, v in headers.items()}, "claw-webhook-timestamp": str(stamp - 1)}
        assert not verify_webhook(hook.secret, moved, body), "the timestamp is signed"
        assert not verify_webhook(hook.secret, headers, body, now=stamp + 301), "outside the window"
        assert not verify_webhook("another secret", headers, body)
        seen: set = set()
        assert verify_webhook(hook.secret, headers, body, seen=seen)
        assert not verify_webhook(hook.secret, headers, body, seen=seen), "a replay"
    finally:
        claw.webhooks.delete(hook.id)
    assert hook.id not in [w.id for w in claw.webhooks.list()]
    with pytest.raises(ClawError) as gone:
        claw.webhooks.delete(hook.id)
    assert gone.value.status == 404


def test_dead_letters_listed_read_and_replayed(claw: Claw, receiver) -> None:
    # a receiver that answers 500: after CLAW_WEBHOOK_MAX_ATTEMPTS the delivery is a dead letter
    hook = claw.webhooks.create(url=receiver.url.replace("/hooks", "/fail"), events=["reply"])
    try:
        claw.agents.invoke("echo", text="to the dead letters", session=fresh("d"))
        letters = until(lambda: list(claw.dlq.list(stage="webhook", page_size=1)), "a webhook dead letter", 60, 0.2)
    finally:
        claw.webhooks.delete(hook.id)
    letter = claw.dlq.get(letters[0].seq)
    assert letter.stage == "webhook" and letter.seq == letters[0].seq
    replayed = claw.dlq.replay(letter.seq)
    assert replayed.subject and replayed.duplicate in (True, False)
    with pytest.raises(ClawError) as gone:
        claw.dlq.get(letter.seq)
    assert gone.value.status == 404


def test_openai_shaped_routes(claw: Claw, model) -> None:
    done = claw.chat.completions.create(model="echo", messages=[{"role": "user", "content": "plain"}], user=fresh("u"))
    assert done.object == "chat.completion" and done.choices[0].message.content == "plain"
    chunks = list(claw.chat.completions.create(model="writer", messages=[{"role": "user", "content": "go"}], stream=True))
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices) == model.text
    r = claw.responses.create(model="echo", input="respond")
    assert r.object == "response" and r.output[0].content[0].text == "respond"
    events = list(claw.responses.create(model="writer", input="go", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == model.text
    assert {"echo", "writer"} <= {m.id for m in claw.models.list()}
    assert claw.models.get("echo").owned_by == "claw"
    assert isinstance(list(claw.channels.list()), list)
    assert claw.openapi().openapi.startswith("3.")
    assert "claw_messages_in_total" in claw.metrics()


def test_async_client(node, model) -> None:
    async def main() -> None:
        async with AsyncClaw(node.url, retries=2) as claw:
            chat = fresh("async")
            first, again = await asyncio.gather(
                claw.messages.publish(chat=chat, account="echo", text="a", idempotency_key=chat),
                claw.messages.publish(chat=chat, account="echo", text="a", idempotency_key=chat),
            )
            assert sorted([first.duplicate, again.duplicate]) == [False, True]
            r = await claw.agents.invoke("echo", text="/history", session=chat)
            assert r.reply.text == "1 earlier turns\n1. a"
            model.hold = threading.Event()
            pieces = []
            try:
                async for piece in claw.agents.stream("writer", text="go", session=fresh("as")):
                    model.hold.set()  # the first piece came while the model waits for this
                    pieces.append(piece)
                assert model.released is True
            finally:
                model.hold = model.released = None
            assert len(pieces) > 1 and "".join(pieces) == model.text
            agents = [a.spec.id async for a in claw.agents.list(page_size=1)]
            assert {"echo", "writer"} <= set(agents)
            stream = await claw.chat.completions.create(model="writer", messages=[{"role": "user", "content": "go"}], stream=True)
            assert "".join([c.choices[0].delta.get("content") or "" async for c in stream if c.choices]) == model.text
            assert (await claw.skills.invoke("time.now", {})).iso
            with pytest.raises(ClawError) as missing:
                await claw.agents.get("nobody")
            assert missing.value.status == 404

    asyncio.run(main())
