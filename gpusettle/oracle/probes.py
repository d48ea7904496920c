"""Probes: now and then the oracle asks a lease's worker to compute a small seeded matmul on the
lease's GPUs (POST {worker}/v1/probe {leaseId, seed, n}) and checks the answer cheaply: the checksum
against the product's bytes, and the product against A and B with Freivalds (three matrix-vector
products, no matmul of the oracle's own). A wrong, late or missing answer marks the bucket the probe
was sent in as down (the uptime rule), whatever the heartbeats of that bucket say.

The request carries the oracle's peer-request signature headers (gpusettle.signed_requests), so a
worker can tell an oracle of the set from anyone else. The worker's URL is the operator's --worker-url
or the provider's signed announcement (endpoints.py); a lease whose worker URL this oracle does not
know is not probed (and never marked down for it).
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
from pydantic import ValidationError

from ..eip712 import Domain
from ..hashing import keccak256
from ..leases.models import LeaseTerms, ProbeAnswer, ProbeRequest
from ..outbound import OutboundError, outbound_client, post_json_bounded
from ..signed_requests import peer_request_headers
from ..workloads.freivalds import default_tolerance, freivalds
from ..workloads.matmul import decode_result, generate_inputs
from .endpoints import UrlLookup
from .metrics import OracleMetrics
from .store import Store

__all__ = ["PROBE_PATH", "ProbeSettings", "Prober", "check_probe_answer"]

log = logging.getLogger("gpusettle.oracle.probes")

PROBE_PATH = "/v1/probe"


@dataclass(frozen=True)
class ProbeSettings:
    """How often and how hard leases are probed."""

    every: float = 600.0
    """Seconds between probes of one lease (0 turns probing off); each wait is jittered by +-20%."""
    n: int = 64
    """Matrix size of a probe (64: 16 KiB of product, microseconds on a GPU)."""
    timeout: float = 10.0
    """Seconds the worker has to answer; later is a failed probe."""
    rounds: int = 8
    """Freivalds rounds (a wrong product escapes with probability at most 2^-rounds)."""
    worker_urls: dict[str, str] = field(default_factory=dict)
    """Provider (checksummed) -> its worker's base URL."""


def check_probe_answer(request: ProbeRequest, raw: object, rounds: int) -> str | None:
    """None when `raw` (the worker's JSON) is the right product for `request`, else why not."""
    try:
        answer = ProbeAnswer.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        return f"the probe answer does not match the schema: {first.get('loc')}: {first.get('msg')}"
    if (answer.leaseId, answer.seed, answer.n) != (request.leaseId, request.seed, request.n):
        return (
            f"the answer is for lease {answer.leaseId} seed {answer.seed} n {answer.n}, not lease "
            f"{request.leaseId} seed {request.seed} n {request.n}"
        )
    try:
        payload = base64.b64decode(answer.result, validate=True)
    except ValueError:
        return "the probe result is not base64"
    if "0x" + keccak256(payload).hex() != answer.checksum.lower():
        return "the checksum is not keccak256 of the product sent"
    try:
        c = decode_result(payload, request.n, "float32")
    except ValueError as exc:
        return str(exc)
    a, b = generate_inputs(request.seed, request.n, "float32")
    verdict = freivalds(a, b, c, rounds=rounds, tolerance=default_tolerance("float32"))
    return None if verdict.passed else verdict.describe()


@dataclass
class Prober:
    """Probes running leases; call `step(leases)` in a loop (one thread)."""

    store: Store
    domain: Domain
    """Domain the probe requests are signed under (the oracle's peer-request domain)."""
    key: bytes = field(repr=False)
    address: str = ""
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    interval: int = 30
    """Heartbeat bucket size: a probe's verdict lands in bucket `sent_at // interval`."""
    metrics: OracleMetrics = field(default_factory=OracleMetrics)
    clock: Callable[[], float] = time.time
    transport: httpx.BaseTransport | None = None
    urls: UrlLookup | None = None
    """Where each provider's worker is reached; None: `settings.worker_urls` alone."""
    _due: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.http = outbound_client(self.settings.timeout, self.transport)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _next_wait(self) -> float:
        jitter = 0.8 + 0.4 * (secrets.randbelow(1001) / 1000)
        return self.settings.every * jitter

    def step(self, leases: Sequence[LeaseTerms]) -> bool:
        """Probe each running lease that is due; True when any probe was sent."""
        if self.settings.every <= 0:
            return False
        now = self.clock()
        sent = False
        running = {lease.leaseId for lease in leases}
        for lease_id in [i for i in self._due if i not in running]:
            del self._due[lease_id]
        for lease in leases:
            due = self._due.setdefault(
                lease.leaseId, now + self._next_wait() * secrets.randbelow(1001) / 1000
            )
            if due > now:
                continue
            # Whatever one lease's worker does (an address that makes the request fail before it is sent, say),
            # its due time moves on and the other leases are probed.
            self._due[lease.leaseId] = now + self.settings.every
            try:
                url = (self.urls or self.settings.worker_urls).get(lease.provider)
                if url is None:
                    continue
                self.probe(lease, url)
            except Exception as exc:  # noqa: BLE001 - one lease's failure must not stop the others' probes
                log.warning("lease %d: probe not sent (%s: %s)", lease.leaseId, type(exc).__name__, exc)
                continue
            self._due[lease.leaseId] = self.clock() + self._next_wait()
            sent = True
        return sent

    def probe(self, lease: LeaseTerms, url: str) -> bool:
        """One probe of `lease` through the worker at `url`; records and returns whether it passed."""
        sent_at = self.clock()
        request = ProbeRequest(leaseId=lease.leaseId, seed=secrets.randbits(63), n=self.settings.n)
        body = request.model_dump_json().encode()
        headers = peer_request_headers(
            self.domain, self.key, self.address, "POST", PROBE_PATH, int(sent_at), body
        )
        problem: str | None
        # The product is 4 n^2 bytes, base64 in JSON: a third more, and room for the other fields.
        limit = 6 * request.n * request.n + 4096
        try:
            answer = post_json_bounded(
                self.http,
                url.rstrip("/") + PROBE_PATH,
                content=body,
                headers=headers,
                max_bytes=limit,
                deadline_s=self.settings.timeout,
            )
            problem = check_probe_answer(request, answer, self.settings.rounds)
        except OutboundError as exc:
            problem = str(exc)
        except httpx.HTTPError as exc:
            problem = f"no answer from {url} ({type(exc).__name__})"
        except ValueError:
            problem = "the worker's answer is not JSON"
        if problem is None and self.clock() - sent_at > self.settings.timeout:
            problem = f"the answer took {self.clock() - sent_at:.1f} s, more than {self.settings.timeout:g} s"
        sequence = int(sent_at) // self.interval
        self.store.record_probe(lease.leaseId, sequence, problem is None, problem or "ok")
        self.metrics.probes.labels("passed" if problem is None else "failed").inc()
        if problem is not None:
            log.warning(
                "lease %d: probe failed, bucket %d counts as down: %s", lease.leaseId, sequence, problem
            )
        return problem is None
