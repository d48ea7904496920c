"""`gpusettle lease status` shows the up and down time since the last checkpoint as the oracle counts it (a newcomer
saw 0 s / 0 s until the first hourly checkpoint, though the oracle held heartbeats), and says nothing of it when
no oracle answers. Against a real anvil, with a stand-in oracle serving GET /v1/leases/{id}/uptime."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from tests.cli.test_lease_cli import SPEC, World, world

__all__ = ["world"]  # the module-scoped suite of tests/cli/test_lease_cli.py, deployed afresh for this module


class _Oracle(http.server.BaseHTTPRequestHandler):
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Oracle.asked.append(self.path)
        body = json.dumps({"upSeconds": 90, "downSeconds": 30, "heartbeats": 3, "from": 0, "to": 120}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def oracle() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Oracle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_lease_status_shows_what_the_oracle_counted_since_the_last_checkpoint(world: World, oracle: str) -> None:
    gs = world.cli
    lease_id = gs.json(
        "lease", "open", "--offer", str(world.offers[1]), "--gpus", "1", "--for", "1h", "--spec-hash", SPEC,
        "--account", "client",
    )["lease_id"]  # fmt: skip
    gs("provider", "lease", "accept", str(lease_id), "--account", "worker")
    doc = gs.json("lease", "status", str(lease_id), "--account", "client", "--oracle-url", oracle)
    assert doc["unsettled"] == {"up": 90, "down": 30, "heartbeats": 3}
    assert f"/v1/leases/{lease_id}/uptime" in _Oracle.asked
    text = gs("lease", "status", str(lease_id), "--account", "client", "--oracle-url", oracle).output
    assert "since then" in text and "3 heartbeat(s)" in text
    # No oracle listening: the chain's figures alone, no error.
    quiet = gs.json("lease", "status", str(lease_id), "--account", "client", "--oracle-url", "http://127.0.0.1:9")
    assert quiet["unsettled"] is None and quiet["status"] == "Running"
