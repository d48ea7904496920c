"""Where the oracle reaches a provider's worker: announcements signed by the worker key
(POST /v1/workers/endpoint), kept in the store, used by the lease prober and the hardware checks.

An operator's own `--worker-url PROVIDER=URL` still wins; an announcement only fills in the providers
the operator did not name. The oracle then sends requests to an address a provider chose, so the
announcement is held to more than its signature:

- it is signed by the provider's *current* worker key (a rotated-out or stolen-then-rotated key
  cannot redirect the probes), under the LeaseEscrow's EIP-712 domain (chain id and contract);
- it is fresh (`issuedAt` within the clock windows) and newer than the one kept, so an old
  announcement replayed cannot move the worker back;
- the URL is plain http(s) with a host and nothing else (no user, query or fragment), and its host
  resolves only to public addresses, unless the operator allows private ones (a development chain,
  a provider on the operator's own network). The prober checks the address again before each probe,
  since a name can resolve elsewhere later.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from ..eip712 import Domain
from ..errors import InvalidSignatureError
from ..leases.eip712 import recover_worker_endpoint
from ..leases.models import MAX_WORKER_URL, WorkerEndpointSubmission
from ..outbound import PinnedTransport, resolve_host
from .store import Store, StoreUnavailableError

__all__ = [
    "ENDPOINT_PATH",
    "EndpointIntake",
    "EndpointSettings",
    "UrlLookup",
    "WorkerUrls",
    "worker_url_problem",
]

ENDPOINT_PATH = "/v1/workers/endpoint"

log = logging.getLogger("gpusettle.oracle.endpoints")

Answer = tuple[int, dict[str, Any]]
Resolver = Callable[[str], list[str]]


def _resolve(host: str) -> list[str]:
    return resolve_host(host)


@dataclass(frozen=True)
class EndpointSettings:
    """What the oracle takes from workers' announcements."""

    allow_private: bool = False
    """Take URLs whose host is loopback, private, link-local or otherwise not public (development)."""
    max_ahead: int = 15
    """How far `issuedAt` may be ahead of the oracle's clock, seconds."""
    max_age: int = 600
    """How old an announcement may be when it arrives, seconds."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` is a public unicast address, an IPv4 address embedded in IPv6 (mapped, 6to4, Teredo,
    NAT64, the old compatible form) judged as itself. Spelled out beside `is_global`, which Python versions
    before the 2024 `ipaddress` fixes get wrong for some of these ranges."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
        if address in _NAT64 or address in _IPV4_COMPATIBLE:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address in _SITE_LOCAL or address in _IPV4_COMPATIBLE:
            return False
        if any(e is not None and not _public(e) for e in embedded):
            return False
    elif address in _IETF_PROTOCOL:
        return False
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    return address.is_global


def worker_url_problem(
    url: str, *, allow_private: bool, resolve: Resolver = _resolve
) -> tuple[str, str] | None:
    """(reason, hint) when the oracle will not send requests to `url`; None when it will."""
    if len(url) > MAX_WORKER_URL:
        return f"the URL is {len(url)} characters, more than {MAX_WORKER_URL}", "announce a shorter URL"
    # Printable ASCII only: urlsplit drops tabs and newlines that the HTTP client then refuses, and a non-ASCII
    # host is encoded one way by the check (IDNA 2003) and another by the client (IDNA 2008).
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url):
        return (
            "the URL holds spaces, control or non-ASCII characters",
            "announce an ASCII URL (punycode hosts)",
        )
    if any(ch in url for ch in "?#\\@"):
        return (
            "the URL holds '?', '#', '\\' or '@'",
            "announce only scheme, host, port and path of the probe server",
        )
    try:
        parts = urlsplit(url)
        port = parts.port
        client_host = httpx.URL(url).host
    except (ValueError, httpx.InvalidURL) as exc:
        return f"{url!r} is not a URL: {exc}", "announce e.g. https://gpu-box.example.org:8800"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL with a host", "announce e.g. https://gpu-box.example.org:8800"
    if client_host != parts.hostname.lower():
        return f"{url!r} names its host ambiguously", "announce a plain host name or address"
    if port == 0:
        return "port 0 is not a port a server listens on", "announce the probe server's port"
    if allow_private:
        return None
    try:
        addresses = resolve(parts.hostname)
    except OSError as exc:
        return f"{parts.hostname} does not resolve here: {exc}", "announce a name the oracles can resolve"
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if not _public(address):
            return (
                f"{parts.hostname} resolves to {address}, which is not a public address",
                (
                    "announce the worker's public name or address; an operator whose workers share its "
                    "network starts the oracle with --allow-private-worker-urls"
                ),
            )
    if not addresses:
        return f"{parts.hostname} resolves to no address", "announce a name the oracles can resolve"
    return None


class _Refused(Exception):
    def __init__(self, status: int, code: str, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.answer: Answer = (status, {"error": code, "reason": reason, "hint": hint})


class EndpointIntake:
    """Checks and keeps workers' endpoint announcements for one LeaseEscrow domain."""

    def __init__(
        self,
        domain: Domain,
        store: Store,
        worker_key: Callable[[str, str], Awaitable[str | None]],
        run_store: Callable[..., Awaitable[Any]],
        clock: Callable[[], float],
        settings: EndpointSettings | None = None,
        resolve: Resolver = _resolve,
    ) -> None:
        """`worker_key(provider, signer)` is the app's cached worker-key lookup; `run_store(fn, *args)`
        runs a blocking store call (and the name lookup) off the event loop."""
        self.domain = domain
        self.store = store
        self.worker_key = worker_key
        self.run_store = run_store
        self.clock = clock
        self.settings = settings or EndpointSettings()
        self.resolve = resolve

    def _offline(self, body: bytes) -> tuple[WorkerEndpointSubmission, str]:
        """The announcement and its signer, from what needs no chain; _Refused otherwise."""
        try:
            sub = WorkerEndpointSubmission.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "body"
            raise _Refused(
                422,
                "invalid_endpoint",
                f"the announcement does not match the schema: {where}: {first.get('msg')}",
                "send provider, url, issuedAt and signature (gpusettle.leases.models.WorkerEndpointSubmission)",
            ) from None
        now = int(self.clock())
        if not now - self.settings.max_age <= sub.issuedAt <= now + self.settings.max_ahead:
            raise _Refused(
                422,
                "stale_endpoint",
                f"issuedAt {sub.issuedAt} is {sub.issuedAt - now:+d} s from the oracle's clock; "
                f"it must be within -{self.settings.max_age} s and +{self.settings.max_ahead} s",
                "sign the announcement when sending it, with the worker's clock synchronised (NTP)",
            )
        try:
            signer = recover_worker_endpoint(sub.endpoint(), sub.signature, self.domain)
        except InvalidSignatureError as exc:
            raise _Refused(
                422,
                "bad_signature",
                f"the announcement's signature is invalid: {exc.message}",
                "sign the WorkerEndpoint EIP-712 digest with the worker key (65 bytes r || s || v)",
            ) from None
        return sub, signer

    async def handle(self, body: bytes) -> Answer:
        """Check and keep one announcement: (HTTP status, JSON document)."""
        try:
            sub, signer = self._offline(body)
        except _Refused as refused:
            return refused.answer
        try:
            worker = await self.worker_key(sub.provider, signer)
        except Exception as exc:  # noqa: BLE001 - a full pool or an unreachable node: retry later
            log.warning("endpoint announcement of %s: cannot read its worker key: %s", sub.provider, exc)
            return 503, {
                "error": "chain_unavailable",
                "reason": f"cannot read provider {sub.provider}'s worker key now",
                "hint": "retry shortly",
            }
        if worker != signer:
            return 403, {
                "error": "not_the_worker",
                "reason": f"the announcement is signed by {signer}, not by provider {sub.provider}'s current "
                f"worker key {worker}",
                "hint": "sign with the worker key registered on the staking contract",
            }
        # Only the provider's worker gets here: the name is looked up (and its addresses named in a refusal) for
        # it alone, never for a stranger's unsigned request.
        problem = await self.run_store(
            lambda: worker_url_problem(
                sub.url, allow_private=self.settings.allow_private, resolve=self.resolve
            )
        )
        if problem is not None:
            return 422, {"error": "url_refused", "reason": problem[0], "hint": problem[1]}
        try:
            kept = await self.run_store(
                self.store.record_worker_endpoint, sub.provider, sub.url, sub.issuedAt, signer
            )
        except StoreUnavailableError as exc:
            return 503, {"error": "store_unavailable", "reason": exc.reason, "hint": "retry later"}
        if not kept:
            return 409, {
                "error": "superseded",
                "reason": f"provider {sub.provider} has announced an endpoint issued at or after {sub.issuedAt}",
                "hint": "sign a new announcement (issuedAt now) to change the endpoint",
            }
        return 202, {"status": "stored", "provider": sub.provider, "url": sub.url, "issuedAt": sub.issuedAt}


class UrlLookup(Protocol):
    """Where a provider's worker is reached (a plain dict of configured URLs is one)."""

    def get(self, provider: str, /) -> str | None:
        """The worker's base URL, or None: unknown, so not probed or checked."""
        ...


@dataclass
class WorkerUrls:
    """The URL to reach a provider's worker at: the operator's `--worker-url`, else the provider's
    latest announcement (its address checked again at each use)."""

    configured: dict[str, str]
    store: Store | None = None
    allow_private: bool = False
    resolve: Resolver = _resolve
    current_worker: Callable[[str], str | None] | None = None
    """The provider's worker key now: an announcement signed by a key rotated out since is not used."""

    def get(self, provider: str) -> str | None:
        """The URL, or None when this oracle knows none (or the announced one resolves privately now, or its
        signer is no longer the provider's worker key)."""
        url = self.configured.get(provider)
        if url is not None or self.store is None:
            return url
        announced = self.store.worker_endpoint(provider)
        if announced is None:
            return None
        url, signer = announced
        if self.current_worker is not None and self.current_worker(provider) != signer:
            return None
        if worker_url_problem(url, allow_private=self.allow_private, resolve=self.resolve) is not None:
            return None
        return url

    def transport(self) -> httpx.BaseTransport | None:
        """The transport for requests to these URLs: an announced host is resolved once per request, checked, and
        connected to at the address checked (no DNS rebinding between the check and the connection); the
        operator's configured hosts go as they are. None (plain httpx) when private addresses are allowed."""
        if self.allow_private:
            return None
        return PinnedTransport(_public, trusted=self.configured.values(), resolve=self.resolve)
