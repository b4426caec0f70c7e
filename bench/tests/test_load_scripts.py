"""The load's wrk scripts record which request got which answer, against a small local server.

The checks of `make load` (the orders are exactly the keys answered 201, the view counts are
the opens answered) stand on these records, so they are tested here with real wrk: every key
logged once with its answer, every tenth order's key retried, a request whose connection was
dropped sent again with the same key, each GET logged with its item, and no thread cut off.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import Kind, read_logs, run_kinds

pytestmark = [
    pytest.mark.own_servers,
    pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed"),
]

DROPPED_KEY = "test-1-3"  # its first request loses its connection, unanswered


class StubServer:
    """Answers like POST /api/orders (201 for a new key, 200 for one seen before, after a
    dropped connection for DROPPED_KEY's first try) and GET /ok (200), /moved (302)."""

    def __init__(self):
        self.keys: dict[str, int] = {}
        self.dropped = False
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                self.answer({"/ok": 200, "/moved": 302}.get(self.path, 404))

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                with stub.lock:
                    if key == DROPPED_KEY and not stub.dropped:
                        stub.dropped = True
                        self.close_connection = True
                        return  # no answer: the client sees its connection closed
                    stub.keys[key] = stub.keys.get(key, 0) + 1
                    seen = stub.keys[key]
                self.answer(201 if seen == 1 else 200)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.stop()


def test_placement_logs_every_key_with_its_answer_and_retries_every_tenth(stub, tmp_path):
    kind = Kind(
        "place",
        2,
        "place.lua",
        {
            "headers": {"Content-Type": "application/json"},
            "path": "/api/orders",
            "body": json.dumps({"lines": []}),
            "key_prefix": "test",
            "retry_every": 10,
        },
        port=stub.port,
    )
    [figures] = run_kinds([kind], tmp_path, seconds=2)

    assert kind.cut_off == 0
    assert all(kind.is_expected(answer) for answer in kind.answers)
    assert figures.unexpected == {}
    assert figures.errors >= 1  # wrk may count the closed connection as a read error too
    assert kind.resent == 1  # the dropped connection (wrk counts no socket error for it)
    created = [a.label.split()[0] for a in kind.answers if a.label.endswith(" new")]
    retried = [a.label.split()[0] for a in kind.answers if a.label.endswith(" retry")]
    # Each key answered once as new, in order per thread, none skipped: the dropped one too.
    assert len(created) == len(set(created)) == sum(1 for n in stub.keys.values() if n >= 1)
    for thread in (1, 2):
        numbers = sorted(
            int(k.rsplit("-", 1)[1]) for k in created if k.startswith(f"test-{thread}-")
        )
        assert numbers == list(range(1, len(numbers) + 1))
    assert DROPPED_KEY in created
    assert stub.dropped
    # Every tenth key answered 201 of a thread is sent again and answered 200.
    assert retried
    assert set(retried) <= set(created)
    assert all(stub.keys[key] == 2 for key in retried)
    for thread in (1, 2):
        own = [k for k in created if k.startswith(f"test-{thread}-")]
        expected = own[9::10]
        got = [k for k in retried if k.startswith(f"test-{thread}-")]
        assert got in (expected, expected[:-1])  # the last may have been cut by the deadline


def test_gets_log_each_item_and_flag_an_unexpected_status(stub, tmp_path):
    items = [
        {"path": "/ok", "expect": 200},
        {"path": "/moved", "expect": 302},
        {"path": "/missing", "expect": 200},  # answered 404: unexpected
    ]
    kind = Kind("get", 2, "rotate.lua", {"headers": {}, "items": items}, port=stub.port)
    [figures] = run_kinds([kind], tmp_path, seconds=1)

    assert kind.cut_off == 0
    assert kind.socket_errors == 0
    assert kind.resent == 0
    by_item = {label: [a.status for a in kind.answers if a.label == label] for label in "123"}
    assert set(by_item["1"]) == {200}
    assert set(by_item["2"]) == {302}
    assert set(by_item["3"]) == {404}
    assert figures.unexpected == {404: len(by_item["3"])}
    assert figures.requests == len(kind.answers) > 0


def test_a_thread_without_its_end_line_counts_as_cut_off(tmp_path):
    kind = Kind("cut", 2, "rotate.lua", {"items": [{"path": "/", "expect": 200}]})
    now = time.monotonic()
    (tmp_path / "cut-1.log").write_text(f"200 {now} {now + 0.01} 1\nend\n")
    (tmp_path / "cut-2.log").write_text(f"200 {now} {now + 0.01} 1\n")
    (tmp_path / "cut-errors").write_text("0 0 0 0\n")
    read_logs(kind, tmp_path)
    assert kind.cut_off == 1
    assert len(kind.answers) == 2
