"""Real components for the SDK's tests: a nats-server and a Claw node (``node dist/node.js``) as child
processes on free loopback ports with temp dirs, a fake OpenAI-compatible model, a webhook receiver.

Nothing here uses the shared servers on 4222 and friends. The node is the repository's build
(``npm run build`` first); ``CLAW_TEST_NODE`` names the node binary (default: ``node`` on PATH).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(condition: Callable[[], Any], what: str, timeout: float = 30.0, every: float = 0.05) -> Any:
    """Polls ``condition`` until it is truthy (and answers it), or fails saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(every)


def _mapping() -> str:
    """The partition mapping of the repository's own nats-server config (nats/single.conf): the one an operator runs."""
    text = (REPO / "nats" / "single.conf").read_text()
    m = re.search(r"^mappings = \{.*?^\}", text, re.S | re.M)
    if not m:
        raise RuntimeError("nats/single.conf has no mappings block")
    return m.group(0)


class NatsServer:
    """A nats-server with JetStream on a free port and a temp store; killed and restarted on the same ones."""

    def __init__(self) -> None:
        binary = shutil.which("nats-server") or next((p for p in ("/usr/sbin/nats-server", "/usr/local/bin/nats-server") if os.path.exists(p)), None)
        if not binary:
            raise RuntimeError("nats-server is not installed (Debian: apt-get install nats-server)")
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="claw-sdkpy-nats-")
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.conf = os.path.join(self.dir, "nats.conf")
        with open(self.conf, "w") as f:
            f.write(f'listen: "127.0.0.1:{self.port}"\njetstream {{ store_dir: "{self.dir}/store" }}\nmax_payload: 8MB\n{_mapping()}\n')
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def accepting() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        until(accepting, "nats-server accepts connections", 20)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    restart = start

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Node:
    """A Claw node, ``node dist/node.js``, on NATS at ``nats_url``; its JSON log lines collected."""

    def __init__(self, nats_url: str, config: Optional[Dict[str, Any]] = None, env: Optional[Dict[str, str]] = None) -> None:
        script = REPO / "dist" / "node.js"
        if not script.exists():
            raise RuntimeError(f"{script} is missing: run `npm run build` first")
        self.dir = tempfile.mkdtemp(prefix="claw-sdkpy-node-")
        full = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "NATS_URL": nats_url,
            "CLAW_HTTP_PORT": "0",
            "CLAW_GRPC_PORT": "0",  # each node its own: a fixed port would collide with every other node on this host
            "CLAW_LOG_LEVEL": "info",
            "CLAW_DATA_DIR": os.path.join(self.dir, "data"),
        }
        if config is not None:
            path = os.path.join(self.dir, "claw.json")
            with open(path, "w") as f:
                json.dump(config, f)
            full["CLAW_CONFIG"] = path
        full.update(env or {})
        node_bin = os.environ.get("CLAW_TEST_NODE") or shutil.which("node") or "node"
        self.proc = subprocess.Popen([node_bin, str(script)], env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.dir)
        self.lines: List[Dict[str, Any]] = []
        self.text: List[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        try:
            started = until(lambda: self._started(), "the node starts", 45, 0.02)
        except AssertionError:
            self.stop()
            raise AssertionError("the node did not start:\n" + self.output())
        self.url = started["http"].rstrip("/")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.text.append(line)
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass

    def _started(self) -> Optional[Dict[str, Any]]:
        if self.proc.poll() is not None:
            raise AssertionError(f"the node exited with {self.proc.returncode}:\n{self.output()}")
        return next((line for line in list(self.lines) if line.get("msg") == "claw node started"), None)

    def output(self) -> str:
        return "".join(self.text[-80:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def claw_cli(nats_url: str, *args: str) -> str:
    """Runs the ``claw`` command line (dist/cli/claw.js) against ``nats_url``; answers its stdout."""
    node_bin = os.environ.get("CLAW_TEST_NODE") or shutil.which("node") or "node"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "NATS_URL": nats_url}
    r = subprocess.run([node_bin, str(REPO / "dist" / "cli" / "claw.js"), *args], env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"claw {' '.join(args)} exited with {r.returncode}: {r.stderr}")
    return r.stdout


class _Server:
    """A ThreadingHTTPServer on a free loopback port, run in a thread."""

    def __init__(self, handler: type) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.owner = self  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeModel(_Server):
    """An OpenAI-compatible model: ``POST /v1/chat/completions`` streams ``pieces`` (the words of ``text``).

    With ``hold`` set, it writes the first piece, then waits for ``hold`` before the rest: a client that
    yields the first piece before the whole answer exists streams (and sets it: ``released`` is then
    True); one that buffers never sees a piece before the wait gives up (``released`` False).
    """

    def __init__(self) -> None:
        self.text = "The answer comes in several pieces, one after the other."
        self.hold: Optional[threading.Event] = None
        self.released: Optional[bool] = None
        self.requests: List[Dict[str, Any]] = []
        super().__init__(_ModelHandler)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"


class _ModelHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake: FakeModel = self.server.owner  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        fake.requests.append(body)
        words = re.findall(r"\S+\s*", fake.text)
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": body.get("model")}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": fake.text}, "finish_reason": "stop"}
            answer = {**base, "object": "chat.completion", "choices": [choice]}
            data = json.dumps({**answer, "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

        def event(obj: Any) -> None:
            payload = f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()

        event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for i, word in enumerate(words):
            event({**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
            if i == 0 and fake.hold is not None:
                fake.released = fake.hold.wait(20)
        event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        event({**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}})
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Receiver(_Server):
    """Receives webhook deliveries: each one's headers and raw body, answered 200."""

    def __init__(self) -> None:
        self.deliveries: List[Dict[str, Any]] = []
        super().__init__(_ReceiverHandler)
        self.url = f"http://127.0.0.1:{self.port}/hooks"


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.owner.deliveries.append({"path": self.path, "headers": self.headers, "body": body})  # type: ignore[attr-defined]
        # /fail: a receiver that is down, for deliveries that end in the dead letters
        self.send_response(500 if self.path.endswith("/fail") else 200)
        self.send_header("content-length", "0")
        self.end_headers()


class Proxy(_Server):
    """Passes requests to ``target`` and its answers back, but for the next ``drop`` requests: those it passes
    on, then hangs up without the answer (an answer lost on the way back). Records each request's body."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.drop = 0
        self.bodies: List[bytes] = []
        super().__init__(_ProxyHandler)
        self.url = f"http://127.0.0.1:{self.port}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _pass(self) -> None:
        proxy: Proxy = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        proxy.bodies.append(body)
        host, port = proxy.target.split("//", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if proxy.drop > 0:
            proxy.drop -= 1
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _pass


class ScriptedApi(_Server):
    """A stand-in for a node that answers from a script: each request takes the next entry — ``(status,
    headers, body)`` or ``"hangup"`` (the connection closed without an answer) — and the last entry repeats.
    Records each request (method, path, headers, JSON body, when)."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.requests: List[Dict[str, Any]] = []
        super().__init__(_ScriptedHandler)
        self.url = f"http://127.0.0.1:{self.port}"


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        api: ScriptedApi = self.server.owner  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        api.requests.append(
            {"method": self.command, "path": self.path, "headers": self.headers, "body": json.loads(raw) if raw else None, "at": time.monotonic()}
        )
        entry = api.script.pop(0) if len(api.script) > 1 else api.script[0]
        if entry == "hangup":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, headers, body = entry
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for k, v in {"content-type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer
