"""Requests to a worker's address are bounded in time and size as a whole, not per read (third review of the
endpoint announcements: a worker trickling a byte at a time held the prober's thread for as long as it liked,
and a large answer was read into memory whole)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from gpusettle.outbound import OutboundError, outbound_client, post_bounded


class _Worker(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = b"x" * (1 << 20) if self.path == "/big" else b"y" * 100
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.path == "/slow":
            for i in range(len(body)):  # a byte every 0.2 s: no single read ever times out
                try:
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        else:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture(scope="module")
def worker() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Worker)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_trickling_answer_ends_at_the_deadline(worker: str) -> None:
    with outbound_client(timeout=2.0) as client:
        started = time.monotonic()
        with pytest.raises(OutboundError, match="more than 1 s"):
            post_bounded(client, worker + "/slow", content=b"{}", headers={}, max_bytes=1 << 20, deadline_s=1.0)
        assert time.monotonic() - started < 3.5  # the deadline plus at most one read's timeout


def test_a_large_answer_is_cut_off_at_the_cap(worker: str) -> None:
    with outbound_client(timeout=5.0) as client:
        with pytest.raises(OutboundError, match="larger than 4096 bytes"):
            post_bounded(client, worker + "/big", content=b"{}", headers={}, max_bytes=4096, deadline_s=10.0)
        status, body = post_bounded(
            client, worker + "/ok", content=b"{}", headers={}, max_bytes=4096, deadline_s=10.0
        )
        assert (status, body) == (200, b"y" * 100)


def test_the_client_ignores_proxy_settings_and_redirects() -> None:
    with outbound_client(timeout=1.0) as client:
        assert client.trust_env is False and client.follow_redirects is False
