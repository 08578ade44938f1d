"""A node that requires credentials: the SDK sends its API key (``Authorization: Bearer``); without one,
or with a key that lacks the scope, the node's refusal is a ClawError."""
from __future__ import annotations

import json

import pytest

from claw_sdk import Claw, ClawError
from support import NatsServer, Node, claw_cli


def test_an_api_key_is_sent_and_refusals_are_claw_errors() -> None:
    nats = NatsServer()
    try:
        node = Node(nats.url, {"agents": [{"id": "echo"}]}, {"CLAW_AUTH": "required"})
        try:
            key = json.loads(claw_cli(nats.url, "keys", "create", "--scopes", "agents:invoke:echo", "--json"))["key"]
            assert Claw(node.url, api_key=key).agents.invoke("echo", text="with a key").reply.text == "with a key"
            with pytest.raises(ClawError) as anonymous:
                Claw(node.url).agents.invoke("echo", text="without")
            assert (anonymous.value.status, anonymous.value.code) == (401, "unauthenticated")
            with pytest.raises(ClawError) as narrow:
                Claw(node.url, api_key=key).webhooks.create(url="https://example.com/h", events=["reply"])
            assert (narrow.value.status, narrow.value.code) == (403, "forbidden")
            with pytest.raises(ClawError) as wrong:
                Claw(node.url, api_key=key[:-2] + "xx").agents.get("echo")
            assert wrong.value.status == 401
        finally:
            node.stop()
    finally:
        nats.stop()
