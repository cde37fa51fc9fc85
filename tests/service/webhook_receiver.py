"""A real HTTP receiver on 127.0.0.1 for the webhook tests: it records each delivery (headers, raw body,
whether the signature verifies) and answers with the status it is told, or holds requests until released."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.domain.webhooks import verify_signature


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


@dataclass
class Receiver:
    secret: str
    status: int = 200
    hold: threading.Event = field(default_factory=threading.Event)  # set: answer at once; clear: hold requests
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def wait_for(self, condition: Any, timeout_s: float = 60.0) -> list[Delivery]:
        """The deliveries once ``condition(deliveries)`` holds (fails the test after ``timeout_s``: a hang guard,
        not a speed check)."""
        deadline = time.monotonic() + timeout_s
        with self.arrived:
            while not condition(self.deliveries):
                left = deadline - time.monotonic()
                assert left > 0, f"the receiver got {len(self.deliveries)} deliveries, not what the test waits for"
                self.arrived.wait(left)
            return list(self.deliveries)


@contextmanager
def running_receiver(secret: str) -> Iterator[Receiver]:
    receiver = Receiver(secret=secret)
    receiver.hold.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {name: value for name, value in self.headers.items()}
            verified = verify_signature(receiver.secret, body, headers, now=time.time())
            with receiver.arrived:
                receiver.deliveries.append(Delivery(headers, body, verified))
                receiver.arrived.notify_all()
            receiver.hold.wait(120)
            try:
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the sender is gone (killed): nothing to answer
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/facegate"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.hold.set()
        server.shutdown()
        server.server_close()
