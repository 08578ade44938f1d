"""A node whose NATS is down answers 503 with Retry-After; the SDK waits and sends again until NATS is back,
and the message is taken exactly once."""
from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from typing import Any, List

import pytest

from claw_sdk import Claw, ClawError
from support import NatsServer, Node, until


def ready(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


class Retries(logging.Handler):
    """The SDK's retry log records (logger ``claw_sdk``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def outage_node():
    nats = NatsServer()
    try:
        node = Node(nats.url, {"agents": [{"id": "echo"}]})
        try:
            yield nats, node
        finally:
            node.stop()
    finally:
        nats.stop()


def test_503_while_nats_is_down_is_retried_until_it_is_back(outage_node: Any) -> None:
    nats, node = outage_node
    Claw(node.url).messages.publish(chat="warm", account="echo", text="before")
    nats.kill()
    until(lambda: ready(node.url) == 503, "the node says it is not ready", 30)

    with pytest.raises(ClawError) as refused:
        Claw(node.url, retries=0).messages.publish(chat="x", account="echo", text="refused")
    assert (refused.value.status, refused.value.code) == (503, "unavailable")
    assert refused.value.retry_after is not None and refused.value.retry_after > 0

    handler = Retries()
    logger = logging.getLogger("claw_sdk")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    outcome: dict = {}

    def publish() -> None:
        try:
            outcome["result"] = Claw(node.url, retries=30, max_backoff=1).messages.publish(chat="outage", account="echo", text="during the outage")
        except Exception as e:  # noqa: BLE001 - reported below
            outcome["error"] = e

    caller = threading.Thread(target=publish)
    try:
        caller.start()
        until(lambda: any(getattr(r, "claw_status", None) == 503 for r in handler.records), "a 503 retried", 30)
        assert caller.is_alive(), "the call waits while NATS is down"
        nats.restart()
        caller.join(90)
    finally:
        logger.removeHandler(handler)
    assert not caller.is_alive(), "the call ended once NATS was back"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].duplicate is False
    # exactly once: the echo agent's session has the one message
    assert Claw(node.url).agents.invoke("echo", text="/history", session="outage").reply.text == "1 earlier turns\n1. during the outage"
