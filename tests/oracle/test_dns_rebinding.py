"""The oracle connects to the address it checked (issue 11's last open door on worker URLs): a provider's announced
host is resolved once per request, every address must be public, and the connection goes to that address with the
name kept in the Host header and TLS. Before, the URL was checked with one resolution and httpx resolved it again
to connect: a name answering publicly for the check and privately a moment later (DNS rebinding) reached the
operator's network."""

from __future__ import annotations

import http.server
import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from gpusettle.eip712 import Domain
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.endpoints import WorkerUrls
from gpusettle.oracle.lease_work import LeaseSettings, LeaseWork
from gpusettle.oracle.leaseview import StaticLeaseView
from gpusettle.oracle.metrics import OracleMetrics
from gpusettle.oracle.store import SQLiteStore
from gpusettle.outbound import PinnedTransport
from tests.oracle.helpers import CHAIN_ID, ESCROW, LEASE_ESCROW, PROVIDER_CS, WORKER

PUBLIC = "93.184.216.34"


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    from gpusettle.oracle.endpoints import _public as policy

    return policy(address)


class Seen:
    """An inner transport that records where each request would connect and answers 200."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return httpx.Response(200, json={"ok": True})

        return httpx.MockTransport(handler)


def test_the_connection_goes_to_the_checked_address_with_the_name_kept() -> None:
    seen = Seen()
    calls: list[str] = []

    def resolve(host: str) -> list[str]:
        calls.append(host)
        return [PUBLIC]

    client = httpx.Client(transport=PinnedTransport(_public, resolve=resolve, inner=seen.transport()))
    assert client.get("https://gpu.example.org:8800/v1/probe").status_code == 200
    (sent,) = seen.requests
    assert (sent.url.host, sent.url.port, sent.url.scheme) == (PUBLIC, 8800, "https")
    assert sent.headers["host"] == "gpu.example.org:8800"
    assert sent.extensions["sni_hostname"] == "gpu.example.org"
    assert calls == ["gpu.example.org"]  # one resolution: the one that was checked


def test_a_name_that_rebinds_to_a_private_address_is_never_reached() -> None:
    seen = Seen()
    answers = iter([[PUBLIC], ["10.0.0.5"], ["169.254.169.254"]])
    client = httpx.Client(
        transport=PinnedTransport(_public, resolve=lambda host: next(answers), inner=seen.transport())
    )
    assert client.post("http://rebind.example.org/v1/probe").status_code == 200
    for _ in range(2):
        with pytest.raises(httpx.ConnectError, match="which this oracle does not connect to"):
            client.post("http://rebind.example.org/v1/probe")
    # Only the first request went out, and to the address that was checked.
    assert [r.url.host for r in seen.requests] == [PUBLIC]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8800/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://[::ffff:10.0.0.1]/x",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_private_address_literals_are_refused(url: str) -> None:
    seen = Seen()
    client = httpx.Client(
        transport=PinnedTransport(_public, resolve=lambda h: [PUBLIC], inner=seen.transport())
    )
    with pytest.raises(httpx.ConnectError):
        client.get(url)
    assert seen.requests == []


def test_a_name_with_any_private_address_is_refused_and_one_that_does_not_resolve_too() -> None:
    seen = Seen()
    table = {"mixed.example.org": [PUBLIC, "192.168.1.9"]}

    def resolve(host: str) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    client = httpx.Client(transport=PinnedTransport(_public, resolve=resolve, inner=seen.transport()))
    with pytest.raises(httpx.ConnectError, match="192.168.1.9"):
        client.get("http://mixed.example.org/x")
    with pytest.raises(httpx.ConnectError, match="does not resolve"):
        client.get("http://nowhere.example.org/x")
    assert seen.requests == []


def test_the_operators_own_hosts_go_as_they_are() -> None:
    seen = Seen()
    client = httpx.Client(
        transport=PinnedTransport(
            _public,
            trusted={"http://gpu-box.lan:8800"},
            resolve=lambda h: ["10.0.0.7"],
            inner=seen.transport(),
        )
    )
    assert client.get("http://GPU-box.lan:8800/x").status_code == 200
    assert seen.requests[0].url.host == "gpu-box.lan"
    # The same name on another port or scheme is not the operator's URL: checked like any announced one.
    for other in ("http://gpu-box.lan:6379/x", "https://gpu-box.lan:8800/x", "http://gpu-box.lan/x"):
        with pytest.raises(httpx.ConnectError):
            client.get(other)
    assert len(seen.requests) == 1


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = (self.headers.get("host") or "").encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def echo() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_over_a_real_connection_the_server_sees_the_name(echo: int) -> None:
    transport = PinnedTransport(lambda a: True, resolve=lambda host: ["127.0.0.1"])
    with httpx.Client(transport=transport) as client:
        response = client.get(f"http://worker.test:{echo}/")
    assert response.status_code == 200 and response.text == f"worker.test:{echo}"


def test_worker_urls_pin_announced_hosts_and_trust_the_operators() -> None:
    urls = WorkerUrls(configured={PROVIDER_CS: "http://gpu-box.lan:8800"})
    transport = urls.transport()
    assert isinstance(transport, PinnedTransport) and transport.trusted == {("http", "gpu-box.lan", 8800)}
    assert WorkerUrls(configured={}, allow_private=True).transport() is None


def test_the_prober_uses_the_pinned_transport(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "oracle.sqlite")
    work = LeaseWork(
        store=store,
        view=StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {}),
        chain_view=StaticChainView(CHAIN_ID, ESCROW, {PROVIDER_CS: WORKER}),
        peer_domain=Domain(CHAIN_ID, ESCROW),
        account=Account.create(),
        peers=[],
        settings=LeaseSettings(),
        metrics=OracleMetrics(),
        worker_urls=WorkerUrls(configured={}, store=store),
    )
    try:
        assert isinstance(work.prober.http._transport, PinnedTransport)
    finally:
        work.close()
        store.close()
