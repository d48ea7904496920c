"""A wrong --rpc-url, or no node at all, is the user's to fix: an `error:` and a `hint:` naming what to
do, never "this is a bug"."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.runner import Cli


class _NotFound(http.server.BaseHTTPRequestHandler):
    """A web server that is no JSON-RPC node (the oracle's or explorer's shape: 404 at /)."""

    def do_POST(self) -> None:
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def gs_offline(tmp_path: Path) -> Cli:
    return Cli(tmp_path, {"GPUSETTLE_HOME": str(tmp_path), "GPUSETTLE_DEPLOYMENTS": str(tmp_path)})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_rpc_url_of_a_web_server_is_not_a_json_rpc_node(gs_offline: Cli, web_server: str) -> None:
    result = gs_offline("offer", "list", "--rpc-url", web_server, ok=False)
    assert result.exit_code == 1
    assert f"error: {web_server} is not a JSON-RPC node" in result.stderr, result.stderr
    assert "--rpc-url" in result.stderr.split("hint:")[1]
    assert "bug" not in result.stderr


def test_no_node_on_the_development_network_names_dev_up(gs_offline: Cli) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = gs_offline("offer", "list", ok=False, env={"GPUSETTLE_DEV_RPC_URL": url})
    assert f"cannot reach the RPC endpoint {url}" in result.stderr
    assert "gpusettle dev up" in result.stderr.split("hint:")[1], result.stderr


def test_rpc_url_without_scheme_hint_shows_an_rpc_url(gs_offline: Cli) -> None:
    result = gs_offline("offer", "list", "--rpc-url", "127.0.0.1:8545", ok=False)
    assert result.exit_code == 2
    assert "e.g. http://127.0.0.1:8545" in result.stderr, result.stderr
    assert "8700" not in result.stderr
