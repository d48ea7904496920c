"""Requests to servers someone else runs: the oracle's to the addresses a provider chose (its worker's probe and
hardware ports), the CLI's to a remote explorer's API (`--index URL`).

httpx's timeout bounds each read, not the request: a server that answers a byte a second never times out, and
`post()`/`get()` read a body of any size into memory. Here the answer is streamed with a cap on its size and on
the whole exchange's time. The oracle's client also follows no redirects and ignores the environment's proxy
settings (the address the oracle checked is the one it connects to). `PinnedTransport` makes that exact: it resolves
a name once, checks every address, and connects to the address it checked (the Host header and TLS keep the name), so
a name cannot resolve publicly when checked and privately a moment later (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

__all__ = [
    "OutboundError",
    "PinnedTransport",
    "origin",
    "outbound_client",
    "post_bounded",
    "post_json_bounded",
    "request_bounded",
    "resolve_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve_host(host: str) -> list[str]:
    """Every address `host` resolves to here, sorted (OSError when it does not resolve)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})


def origin(url: str | httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) of `url`, the port spelled out (80 and 443 when implied), the host in lower case."""
    u = httpx.URL(url) if isinstance(url, str) else url
    port = u.port if u.port is not None else (443 if u.scheme == "https" else 80)
    return u.scheme, u.host.lower(), port


class PinnedTransport(httpx.BaseTransport):
    """Resolves each request's host once, refuses the request (httpx.ConnectError, nothing sent) unless every
    address passes `allowed`, and connects to the first of them: the name is kept in the Host header and, for
    https, in TLS (SNI and the certificate's name check). Requests to an origin in `trusted` (the operator's own
    URLs: scheme, host and port alike, so another port or scheme on the same name is checked) go as they are."""

    def __init__(
        self,
        allowed: Callable[[IPAddress], bool],
        *,
        trusted: Iterable[str | httpx.URL] = (),
        resolve: Callable[[str], list[str]] = resolve_host,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self.allowed = allowed
        self.trusted = {origin(u) for u in trusted}
        self.resolve = resolve
        self.inner = inner or httpx.HTTPTransport(trust_env=False)

    def _address(self, host: str) -> str:
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = self.resolve(host)
            except OSError as exc:
                raise httpx.ConnectError(f"{host} does not resolve: {exc}") from None
        if not addresses:
            raise httpx.ConnectError(f"{host} resolves to no address")
        for text in addresses:
            if not self.allowed(ipaddress.ip_address(text.split("%")[0])):
                raise httpx.ConnectError(f"{host} resolves to {text}, which this oracle does not connect to")
        return addresses[0]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if origin(request.url) in self.trusted:
            return self.inner.handle_request(request)
        address = self._address(host)
        # The Host header was written from the name when the request was built; only the connection moves.
        request.url = request.url.copy_with(host=address)
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class OutboundError(Exception):
    """The answer was too large or too slow (the message says which)."""


def outbound_client(timeout: float, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client for workers' addresses: no redirects, no proxies from the environment."""
    return httpx.Client(timeout=timeout, transport=transport, follow_redirects=False, trust_env=False)


def post_bounded(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    max_bytes: int,
    deadline_s: float,
) -> tuple[int, bytes]:
    """(status, body) of a POST whose answer is at most `max_bytes` and complete within `deadline_s` (give or
    take one read's timeout); OutboundError otherwise, httpx errors as they come."""
    return request_bounded(
        client, "POST", url, max_bytes=max_bytes, deadline_s=deadline_s, content=content, headers=headers
    )


def post_json_bounded(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    max_bytes: int,
    deadline_s: float,
) -> Any:
    """A worker's JSON answer to a JSON POST (post_bounded's bounds); OutboundError for an answer too large or too
    slow, an HTTP status other than 200, or a body that is not JSON; httpx errors as they come."""
    status, data = post_bounded(
        client, url, content=content, headers={**headers, "content-type": "application/json"},
        max_bytes=max_bytes, deadline_s=deadline_s,
    )  # fmt: skip
    if status != 200:
        raise OutboundError(f"the worker answered HTTP {status}: {data[:200]!r}")
    try:
        return json.loads(data)
    except ValueError:
        raise OutboundError("the worker's answer is not JSON") from None


def request_bounded(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    max_bytes: int,
    deadline_s: float,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[int, bytes]:
    """(status, body) of a request whose answer is at most `max_bytes` and complete within `deadline_s`;
    OutboundError otherwise, httpx errors as they come."""
    started = time.monotonic()
    with client.stream(method, url, content=content, headers=headers, params=params) as response:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise OutboundError(f"the answer is larger than {max_bytes} bytes")
            if time.monotonic() - started > deadline_s:
                raise OutboundError(f"the answer took more than {deadline_s:g} s")
            chunks.append(chunk)
        return response.status_code, b"".join(chunks)
