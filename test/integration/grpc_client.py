"""claw.v1.Claw from Python's grpcio, with stubs generated from the repository's
.proto at test time (grpc_tools.protoc), against a real node that requires
credentials. Run by test/integration/grpc-python.test.ts, which starts the node
and passes, in the environment:

  CLAW_GRPC_ADDRESS   host:port of the node's gRPC server
  CLAW_KEY_ALL        an API key with every scope
  CLAW_KEY_ECHO       an API key with agents:invoke:echo only
  CLAW_PROTO_DIR      the repository's proto/ folder
  CLAW_HEALTH_PROTO_DIR  the folder holding health/v1/health.proto
"""

import json
import os
import sys
import tempfile
import time
import unittest

import grpc
from grpc_tools import protoc

ADDRESS = os.environ["CLAW_GRPC_ADDRESS"]
KEY_ALL = os.environ["CLAW_KEY_ALL"]
KEY_ECHO = os.environ["CLAW_KEY_ECHO"]

OUT = tempfile.mkdtemp(prefix="claw-grpc-py-")
for proto_dir, proto in ((os.environ["CLAW_PROTO_DIR"], "claw/v1/claw.proto"), (os.environ["CLAW_HEALTH_PROTO_DIR"], "health/v1/health.proto")):
    code = protoc.main(["grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={OUT}", f"--grpc_python_out={OUT}", proto])
    if code != 0:
        sys.exit(f"protoc failed on {proto} ({code})")
sys.path.insert(0, OUT)

from claw.v1 import claw_pb2, claw_pb2_grpc  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402


def bearer(key):
    return (("authorization", f"Bearer {key}"),)


class ClawOverGrpc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(ADDRESS)
        cls.claw = claw_pb2_grpc.ClawStub(cls.channel)
        cls.health = health_pb2_grpc.HealthStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def assertStatus(self, code, call, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as caught:
            call(*args, **kwargs)
        self.assertEqual(caught.exception.code(), code, caught.exception.details())
        return caught.exception

    def test_publish_absorbs_a_retry_with_its_idempotency_key(self):
        req = claw_pb2.PublishRequest(chat="py-1", text="hello from python", metadata={"order": "42"}, idempotency_key="py-k1")
        first = self.claw.Publish(req, metadata=bearer(KEY_ALL), timeout=10)
        self.assertTrue(first.message_id)
        self.assertFalse(first.duplicate)
        again = self.claw.Publish(req, metadata=bearer(KEY_ALL), timeout=10)
        self.assertEqual((again.message_id, again.duplicate), (first.message_id, True))

    def test_replies_follow_a_published_message(self):
        sent = self.claw.Publish(claw_pb2.PublishRequest(chat="py-2", text="reply to me"), metadata=bearer(KEY_ALL), timeout=10)
        stream = self.claw.Replies(claw_pb2.RepliesRequest(chat="py-2", consumer="py-backend"), metadata=bearer(KEY_ALL), timeout=20)
        reply = next(iter(stream))
        stream.cancel()
        self.assertEqual((reply.reply_to, reply.text, reply.channel, reply.chat), (sent.message_id, "reply to me", "grpc", "py-2"))

    def test_invoke_keeps_the_session(self):
        r = self.claw.Invoke(claw_pb2.InvokeRequest(agent="echo", text="hi", session="py-s"), metadata=bearer(KEY_ECHO), timeout=20)
        self.assertEqual((r.text, r.session), ("hi", "py-s"))
        h = self.claw.Invoke(claw_pb2.InvokeRequest(agent="echo", text="/history", session="py-s"), metadata=bearer(KEY_ECHO), timeout=20)
        self.assertEqual(h.text, "1 earlier turns\n1. hi")

    def test_chat_streams_and_ends_cleanly(self):
        events = list(self.claw.Chat(claw_pb2.ChatRequest(agent="echo", text="streamed"), metadata=bearer(KEY_ALL), timeout=20))
        self.assertTrue(events[-1].done)
        self.assertEqual(events[-1].text, "streamed")
        self.assertEqual("".join(e.delta for e in events[:-1]), "streamed")

    def test_invoke_skill(self):
        r = self.claw.InvokeSkill(claw_pb2.InvokeSkillRequest(skill="echo", input_json=json.dumps({"text": "ping"})), metadata=bearer(KEY_ALL), timeout=20)
        self.assertEqual(json.loads(r.output_json), {"text": "ping"})

    def test_status_codes(self):
        e = self.assertStatus(grpc.StatusCode.UNAUTHENTICATED, self.claw.Invoke, claw_pb2.InvokeRequest(agent="echo", text="x"), timeout=10)
        self.assertIn("credential", e.details())
        e = self.assertStatus(grpc.StatusCode.PERMISSION_DENIED, self.claw.Publish, claw_pb2.PublishRequest(chat="c", text="x"), metadata=bearer(KEY_ECHO))
        self.assertIn("messages:write", e.details())
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.claw.Invoke, claw_pb2.InvokeRequest(agent="nobody", text="x"), metadata=bearer(KEY_ALL))
        e = self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.claw.Publish, claw_pb2.PublishRequest(text="no chat"), metadata=bearer(KEY_ALL))
        self.assertTrue(e.details().startswith("chat: "), e.details())
        self.assertIn(("claw-field", "chat"), e.trailing_metadata())
        started = time.monotonic()
        self.assertStatus(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            self.claw.Invoke,
            claw_pb2.InvokeRequest(agent="echo", text="/slow 5000", timeout_ms=300),
            metadata=bearer(KEY_ALL),
            timeout=10,
        )
        self.assertLess(time.monotonic() - started, 3)
        self.assertStatus(
            grpc.StatusCode.DEADLINE_EXCEEDED, self.claw.Invoke, claw_pb2.InvokeRequest(agent="echo", text="/slow 5000"), metadata=bearer(KEY_ALL), timeout=0.3
        )

    def test_health(self):
        for service in ("", "claw.v1.Claw"):
            r = self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            self.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING)


if __name__ == "__main__":
    unittest.main(verbosity=2)
