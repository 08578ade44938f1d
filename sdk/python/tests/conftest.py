"""The real node the SDK's tests talk to: one nats-server and one Claw node for the whole run (the
outage test starts its own, since it stops NATS), a fake model for streaming, a webhook receiver."""
from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # the SDK from this checkout, installed or not

from support import FakeModel, NatsServer, Node, Receiver  # noqa: E402


def node_config(model: FakeModel) -> dict:
    return {
        "providers": {"fake": {"baseURL": model.base_url, "model": "fake-1"}},
        "agents": [{"id": "echo"}, {"id": "writer", "model": "fake"}],
    }


@pytest.fixture(scope="session")
def model() -> Iterator[FakeModel]:
    m = FakeModel()
    yield m
    m.close()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def node(model: FakeModel) -> Iterator[Node]:
    nats = NatsServer()
    try:
        # webhooks to this test's receiver on loopback, which a node refuses unless told; a failing one dead-lettered soon
        env = {"CLAW_WEBHOOK_ALLOW_PRIVATE": "1", "CLAW_WEBHOOK_MAX_ATTEMPTS": "2", "CLAW_RETRY_BASE_MS": "100", "CLAW_RETRY_MAX_MS": "400"}
        n = Node(nats.url, node_config(model), env)
        try:
            yield n
        finally:
            n.stop()
    finally:
        nats.stop()
