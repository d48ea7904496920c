"""Telling the oracles where this worker answers their probes and hardware challenges.

The provider names the URL its probe server is reached at (`worker run --announce-url`); the worker
signs a `WorkerEndpoint` (provider, url, issuedAt) with its worker key under the LeaseEscrow's
EIP-712 domain and posts it to each oracle (POST /v1/workers/endpoint) at start and every
`every` seconds after, so an oracle that restarted or joined the set learns it again, and a new
worker key (after a rotation) replaces what the old one said. An oracle that refuses it for good
(a 4xx other than 408/429) is told again only at the next round, and the refusal is logged with its
reason; a network error is retried with backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from ..eip712 import Domain
from ..leases.eip712 import sign_worker_endpoint
from ..leases.models import WorkerEndpoint, WorkerEndpointSubmission
from .submit import backoff_delay

__all__ = ["ENDPOINT_PATH", "EndpointAnnouncer"]

log = logging.getLogger("gpusettle.worker.announce")

ENDPOINT_PATH = "/v1/workers/endpoint"


@dataclass
class EndpointAnnouncer:
    """Posts the worker's signed endpoint to every oracle now and then; call `tick` in a loop."""

    url: str
    private_key: bytes = field(repr=False)
    provider: str
    domain: Domain
    oracles: Sequence[str]
    every: float = 300.0
    """Seconds between rounds of announcements."""
    clock: Callable[[], float] = time.time
    transport: httpx.BaseTransport | None = None
    timeout: float = 10.0
    _next: dict[str, float] = field(default_factory=dict, init=False)
    _attempts: dict[str, int] = field(default_factory=dict, init=False)
    _http: httpx.Client | None = field(default=None, init=False)

    def submission(self) -> WorkerEndpointSubmission:
        """The announcement, signed now."""
        endpoint = WorkerEndpoint(provider=self.provider, url=self.url, issuedAt=int(self.clock()))
        signature = sign_worker_endpoint(endpoint, self.domain, self.private_key)
        return WorkerEndpointSubmission(**endpoint.model_dump(), signature=signature)

    def tick(self) -> bool:
        """Announce to each oracle whose turn it is; True when any was told (or refused it)."""
        now = self.clock()
        moved = False
        for oracle in self.oracles:
            if self._next.get(oracle, 0.0) > now:
                continue
            verdict = self._post(oracle)
            if verdict is None:
                attempt = self._attempts.get(oracle, 0)
                self._attempts[oracle] = attempt + 1
                self._next[oracle] = now + min(backoff_delay(attempt, base=1.0, cap=60.0), self.every)
                continue
            self._attempts.pop(oracle, None)
            self._next[oracle] = now + self.every
            moved = True
        return moved

    def close(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            self._http.close()

    def _post(self, oracle: str) -> bool | None:
        """True: taken; False: refused for good (logged); None: try again soon."""
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, transport=self.transport, follow_redirects=False)
        body = self.submission().model_dump_json()
        try:
            response = self._http.post(
                oracle.rstrip("/") + ENDPOINT_PATH, content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            log.debug("endpoint announcement to %s failed: %s", oracle, exc)
            return None
        code = response.status_code
        if 200 <= code < 300 or code == 409:  # 409: it holds one issued in the same second or later
            log.info("oracle %s reaches this worker at %s", oracle, self.url)
            return True
        if 400 <= code < 500 and code not in (408, 429):
            if code == 404:
                log.warning("oracle %s takes no endpoint announcements (it follows no LeaseEscrow)", oracle)
            else:
                log.error(
                    "oracle %s refused this worker's endpoint %s: HTTP %d %r",
                    oracle,
                    self.url,
                    code,
                    response.text[:300],
                )
            return False
        return None
