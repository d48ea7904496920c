"""Attack review of 2026-12-03 (failing at 91a1cf1, passing from the commit that adds this file) (PinnedTransport, DNS rebinding fix): the transport trusts a request by its *host* alone, for any
URL, when that host is the host of some operator-configured `--worker-url`. A provider that is not configured can
announce a URL on a configured provider's host name, with its own port and path; the announcement and each use
pass `worker_url_problem` (the name resolves publicly at that moment), and the request then goes out unpinned:
httpx resolves the name again, so a rebinding name reaches a private address (the operator's network, a cloud
metadata service) on any port and path. Whoever controls the configured name (that provider, e.g. a second
identity of the announcing one, or a dynamic-DNS/hosting name) opens the door that the pinning closed; the
operator trusted that name for one provider's one URL, not as a wildcard."""

from __future__ import annotations

import httpx
import pytest

from gpusettle.oracle.endpoints import WorkerUrls
from gpusettle.outbound import PinnedTransport

CONFIGURED = (
    "0x" + "a1" * 20
)  # the provider the operator named: --worker-url CONFIGURED=http://gpu.p1.example:8800
STRANGER = "0x" + "b2" * 20  # another provider, not configured: announces a URL
PUBLIC = "93.184.216.34"


class Announcements:
    """The store's announcement table, as WorkerUrls reads it."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls

    def worker_endpoint(self, provider: str) -> tuple[str, str] | None:
        url = self.urls.get(provider)
        return None if url is None else (url, "0x" + "00" * 20)


def test_an_announced_url_on_a_configured_host_is_still_pinned() -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])  # public for the check, then rebound

    urls = WorkerUrls(
        configured={CONFIGURED: "http://gpu.p1.example:8800"},
        store=Announcements({STRANGER: "http://gpu.p1.example:6379/anything"}),  # type: ignore[arg-type]
        resolve=lambda host: next(answers),
    )
    url = urls.get(STRANGER)
    assert url == "http://gpu.p1.example:6379/anything"  # the check passed: it resolved publicly just now
    transport = urls.transport()
    assert isinstance(transport, PinnedTransport)
    reached: list[httpx.Request] = []

    def inner(request: httpx.Request) -> httpx.Response:
        reached.append(request)
        return httpx.Response(200, json={})

    transport.inner = httpx.MockTransport(inner)
    client = httpx.Client(transport=transport)
    try:
        client.post(url + "/v1/probe", json={})
    except httpx.ConnectError:
        pass  # refused: the rebound name was checked again and pinned
    # Safe: either refused, or sent to an address this oracle checked (an IP, not the name to be resolved anew).
    assert [r.url.host for r in reached] in ([], [PUBLIC]), (
        f"the stranger's announced URL went out unpinned to host {[r.url.host for r in reached]} "
        "(the real transport would resolve it again: DNS rebinding)"
    )


@pytest.mark.parametrize("announced", ["http://gpu.p1.example:6379/", "https://gpu.p1.example/x"])
def test_the_trust_is_for_the_configured_url_not_for_its_host(announced: str) -> None:
    urls = WorkerUrls(
        configured={CONFIGURED: "http://gpu.p1.example:8800"},
        store=Announcements({STRANGER: announced}),  # type: ignore[arg-type]
        resolve=lambda host: ["10.0.0.9"],  # private at the time of the request
    )
    transport = urls.transport()
    assert isinstance(transport, PinnedTransport)
    reached: list[str] = []
    transport.inner = httpx.MockTransport(lambda r: reached.append(r.url.host) or httpx.Response(200))
    with pytest.raises(httpx.ConnectError):
        # The stranger's request (its URL is only known to the oracle from the announcement) is not trusted.
        httpx.Client(transport=transport).post(announced.rstrip("/") + "/v1/probe")
    assert reached == []
