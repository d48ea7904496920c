"""The oracle's HTTP API, an ASGI app (Starlette) served by uvicorn.

    POST /v1/receipts            submit a signed receipt (JSON, ReceiptSubmission); 202 once stored
    GET  /v1/receipts/{job_id}   its status: received, verified, rejected (+reason), posted, settled (+tx)
    PUT  /v1/results/{hash}      upload a result payload (the matmul product) by its keccak256; signed by
                                 the worker key of a running job (gpusettle.signed_requests), streamed
                                 to disk with a size bound
    GET  /v1/results/{hash}      fetch one, streamed (peers use this to check a matmul result)
    PUT  /v1/inputs/{sha256}     upload a client's input file by its sha256 (64 hex digits); signed by the
                                 client's account key (InputUpload), checked against a per-signer quota
                                 before the body is read, streamed to disk with a size bound
    GET  /v1/inputs/{sha256}     fetch one, streamed (workers fetch a job's inputs; Range: bytes=N-)
    PUT  /v1/specs/{hash}        publish a job spec (canonical JSON) under its specHash
    GET  /v1/specs/{hash}        fetch one (workers use this to learn what to run)
    POST /v1/heartbeats          a lease heartbeat signed by the worker key (JSON, HeartbeatSubmission);
                                 202 once stored, 200 for a (lease, sequence) already holding one
    POST /v1/heartbeats/batch    up to 32 heartbeats in one request (HeartbeatBatch), committed together;
                                 200 with each one's answer in order ({"results": [{"code", ...}]})
    GET  /v1/leases/{id}/uptime  up and down seconds of a lease from its heartbeats and probes
                                 (?from=&to= unix seconds; default: the unpaid period up to now)
    POST /v1/cosign/checkpoints  peers: check a batch of lease checkpoints against this oracle's own
                                 heartbeats and co-sign its attestation (signed like /v1/cosign)
    POST /v1/cosign/hardware     peers: co-sign a hardware verdict when this oracle's own challenge of the offer
                                 agrees (signed like /v1/cosign)
    POST /v1/cosign              peers: verify a batch independently and co-sign its attestation; signed
                                 by a member of the on-chain oracle set
    GET  /health                 200 when the store can commit, 503 with the reason when it cannot
    GET  /metrics                Prometheus metrics

Every refusal is a 4xx (or 503 when the store cannot commit or a pool is full) with a JSON body
{"error": <code>, "reason": <what was wrong and what to do>}.

Blocking work never runs on the event loop nor on asyncio's default executor: each kind has a bounded
pool of its own (store reads, chain reads, files, peers, health), and a full pool answers 503 at once,
so a flood of one kind of request cannot starve /health or intake.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from eth_utils.address import is_address, to_checksum_address
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..eip712 import Domain, ReceiptVerifier, recover
from ..errors import InvalidSignatureError
from ..models import JobSpec, JobStatus, ReceiptStatus
from ..signed_requests import (
    JOB_HEADER,
    InputUploadAuth,
    PeerRequestAuth,
    parse_signature,
    result_upload_digest,
)
from .chainview import WorkerKeyCache
from .checkpoint_quorum import CHECKPOINT_COSIGN_PATH, CheckpointCosignRequest
from .endpoints import ENDPOINT_PATH, EndpointIntake, EndpointSettings
from .hardware_quorum import HARDWARE_COSIGN_PATH, HardwareCosignRequest
from .heartbeats import HeartbeatIntake, HeartbeatSettings, lease_uptime
from .inputs import InputFiles, InputQuota, QuotaExceeded, Reservation, valid_input_name
from .leaseview import LeaseTermsCache
from .metrics import OracleMetrics
from .quorum import COSIGN_PATH, CosignRequest
from .results import ResultFiles
from .store import InsertOutcome, NewReceipt, Store, StoreUnavailableError
from .uploads import Upload, is_hex_name
from .verify import IntakeRejection, ReceiptSubmission, check_submission

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_COSIGN",
    "DEFAULT_MAX_INPUT",
    "DEFAULT_MAX_RESULT",
    "BoundedPool",
    "IntakeSettings",
    "OracleApp",
    "PoolBusyError",
    "PoolSizes",
    "json_response",
]

T = TypeVar("T")

DEFAULT_MAX_BODY = 64 * 1024
"""Largest receipt submission accepted (a receipt with evidence is well under 4 KiB)."""
DEFAULT_MAX_RESULT = 512 * 1024 * 1024
"""Largest result payload accepted (a float32 8192 x 8192 product is 256 MiB)."""
DEFAULT_MAX_INPUT = 256 * 1024 * 1024
"""Largest client input file accepted (larger data belongs on the client's own URL)."""
DEFAULT_MAX_SPEC = 256 * 1024
DEFAULT_MAX_COSIGN = 4 * 1024 * 1024
"""Largest co-signing request (a batch of 200 receipts with their specs is well under 1 MiB)."""
_CHUNK = 1024 * 1024


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


_COMPACT = json.JSONEncoder(separators=(",", ":"))
"""One encoder for every answer (json.dumps with options builds a new one per call)."""


def json_response(status: int, payload: dict[str, Any]) -> Response:
    """A JSON response without Starlette's slower generic encoder."""
    return Response(_COMPACT.encode(payload).encode(), status, media_type="application/json")


def _error(status: int, code: str, reason: str) -> Response:
    return json_response(status, {"error": code, "reason": reason})


def _storing_failed(exc: ClientDisconnect | PoolBusyError | OSError, what: str) -> Response:
    """The answer when storing `what` (an upload) fails: the client left, the files pool is full, or the
    disk refused."""
    if isinstance(exc, ClientDisconnect):
        return _error(400, "disconnected", "the client went away")
    if isinstance(exc, PoolBusyError):
        return _error(503, "busy", f"{exc}; retry shortly")
    return _error(503, "store_unavailable", f"cannot store {what}: {exc.strerror or exc}")


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _TooLarge(limit)
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class PoolBusyError(Exception):
    """A bounded pool has as much work queued as it may hold."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"the {name} pool has {limit} tasks running or queued")
        self.name = name
        self.limit = limit


class BoundedPool:
    """Threads for one kind of blocking work, with a bound on what may wait for them."""

    def __init__(self, name: str, workers: int, queue: int) -> None:
        self.name = name
        self.limit = workers + queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"oracle-{name}")
        self._pending = 0  # touched only on the event loop's thread

    @property
    def pending(self) -> int:
        """Tasks running or queued."""
        return self._pending

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on this pool's threads; PoolBusyError at once when the pool is full."""
        if self._pending >= self.limit:
            raise PoolBusyError(self.name, self.limit)
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            # A cancelled caller stops counting here though its task may still run: the bound is on
            # what callers wait for, the thread count bounds what runs.
            self._pending -= 1

    def shutdown(self) -> None:
        """Stop the threads once their current tasks end."""
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class PoolSizes:
    """Threads and queue bound of each pool of blocking work."""

    store: int = 4
    """Store reads (status, specs)."""
    store_queue: int = 256
    chain: int = 4
    """Chain reads (worker keys, jobs, the oracle set)."""
    chain_queue: int = 256
    files: int = 4
    """Result payloads and input files written and read."""
    files_queue: int = 64
    peers: int = 2
    """Co-signing for peers (verifies a whole batch, may fetch payloads from peers)."""
    peers_queue: int = 8
    health: int = 2
    """/health and /metrics only: they answer however busy the rest is."""
    health_queue: int = 32


def _open_binary(path: Path) -> BinaryIO:
    return path.open("rb")


@dataclass
class IntakeSettings:
    """Limits of the HTTP API."""

    max_body: int = DEFAULT_MAX_BODY
    """Largest receipt submission, bytes."""
    max_result: int = DEFAULT_MAX_RESULT
    """Largest result payload, bytes."""
    max_spec: int = DEFAULT_MAX_SPEC
    """Largest job spec, bytes."""
    store_timeout: float = 10.0
    """Seconds a submission waits for its commit before it is answered 503 (retry later)."""
    max_cosign: int = DEFAULT_MAX_COSIGN
    """Largest co-signing request, bytes."""
    max_input: int = DEFAULT_MAX_INPUT
    """Largest client input file, bytes."""
    input_quota: InputQuota = field(default_factory=InputQuota)
    """How much each signer may upload per window, and all inputs may take on disk."""
    pools: PoolSizes = field(default_factory=PoolSizes)
    """Sizes of the pools of blocking work."""


CosignHandler = Callable[[CosignRequest, str], tuple[int, dict[str, Any]]]
CheckpointCosignHandler = Callable[[CheckpointCosignRequest, str], tuple[int, dict[str, Any]]]
"""Verify a peer's batch and answer (HTTP status, JSON document); blocking, run on the peers pool; the
second argument is the authenticated oracle that asked."""

HardwareCosignHandler = Callable[[HardwareCosignRequest, str], tuple[int, dict[str, Any]]]
"""Check a peer's hardware verdict against this oracle's own challenge and answer; blocking, on the peers pool."""


@dataclass
class OracleApp:
    """The HTTP side of an oracle: intake, status, results, specs, health and metrics."""

    store: Store
    verifier: ReceiptVerifier
    keys: WorkerKeyCache
    results_dir: Path
    metrics: OracleMetrics = field(default_factory=OracleMetrics)
    settings: IntakeSettings = field(default_factory=IntakeSettings)
    cosign: CosignHandler | None = None
    info: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    """Wall-clock time (tests move it)."""
    inputs_dir: Path | None = None
    """Where client inputs live; None: `inputs` beside the results directory."""
    lease_domain: Domain | None = None
    """The LeaseEscrow's EIP-712 domain; None: this oracle takes no heartbeats (404)."""
    lease_terms: LeaseTermsCache | None = None
    """Lease terms read from the chain (needed with `lease_domain`)."""
    heartbeat_settings: HeartbeatSettings = field(default_factory=HeartbeatSettings)
    """Heartbeat bucket size and clock windows."""
    endpoint_settings: EndpointSettings = field(default_factory=EndpointSettings)
    """What the oracle takes from workers' endpoint announcements (needs `lease_domain`)."""
    cosign_checkpoints: CheckpointCosignHandler | None = None
    """Check a peer's checkpoint batch and answer (blocking, on the peers pool)."""
    cosign_hardware: HardwareCosignHandler | None = None
    """Check a peer's hardware verdict and answer (blocking, on the peers pool)."""
    _inflight_keys: dict[str, asyncio.Future[str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.results = ResultFiles(self.results_dir)
        if self.inputs_dir is None:
            self.inputs_dir = self.results_dir.parent / "inputs"
        self.inputs = InputFiles(self.inputs_dir, self.settings.input_quota)
        self.metrics.watch_store(self.store.counts)
        sizes = self.settings.pools
        self.store_pool = BoundedPool("store", sizes.store, sizes.store_queue)
        self.chain_pool = BoundedPool("chain", sizes.chain, sizes.chain_queue)
        self.files_pool = BoundedPool("files", sizes.files, sizes.files_queue)
        self.peers_pool = BoundedPool("peers", sizes.peers, sizes.peers_queue)
        self.health_pool = BoundedPool("health", sizes.health, sizes.health_queue)
        self.heartbeat_intake: HeartbeatIntake | None = None
        if self.lease_domain is not None and self.lease_terms is not None:
            self.heartbeat_intake = HeartbeatIntake(
                self.lease_domain,
                self.store,
                self.lease_terms,
                self._worker_key,
                self.chain_pool.run,
                self.clock,
                self.metrics,
                self.heartbeat_settings,
                self.settings.store_timeout,
            )
        self.endpoint_intake: EndpointIntake | None = None
        if self.lease_domain is not None:
            self.endpoint_intake = EndpointIntake(
                self.lease_domain,
                self.store,
                self._worker_key,
                self.store_pool.run,
                self.clock,
                self.endpoint_settings,
            )

    def close(self) -> None:
        """Stop the pools' threads."""
        for pool in (self.store_pool, self.chain_pool, self.files_pool, self.peers_pool, self.health_pool):
            pool.shutdown()

    def asgi(self) -> ASGIApp:
        """The ASGI application: POST /v1/receipts on a direct path (the hot path, without Starlette's
        request and response objects), everything else through Starlette."""
        routes = self._starlette()
        fast = self._post_receipt
        beats = self._post_heartbeat

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/receipts":
                await fast(scope, receive, send)
            elif scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/heartbeats":
                await beats(scope, receive, send)
            elif (
                scope["type"] == "http"
                and scope["method"] == "POST"
                and scope["path"] == "/v1/heartbeats/batch"
            ):
                await beats(scope, receive, send, batch=True)
            else:
                await routes(scope, receive, send)

        return app

    def _starlette(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/receipts/{job_id}", self.get_receipt, methods=["GET"]),
                Route("/v1/leases/{lease_id}/uptime", self.get_uptime, methods=["GET"]),
                Route("/v1/results/{result_hash}", self.put_result, methods=["PUT"]),
                Route("/v1/results/{result_hash}", self.get_result, methods=["GET"]),
                Route("/v1/inputs/{sha256}", self.put_input, methods=["PUT"]),
                Route("/v1/inputs/{sha256}", self.get_input, methods=["GET"]),
                Route("/v1/specs/{spec_hash}", self.put_spec, methods=["PUT"]),
                Route("/v1/specs/{spec_hash}", self.get_spec, methods=["GET"]),
                Route(ENDPOINT_PATH, self.post_worker_endpoint, methods=["POST"]),
                Route("/v1/workers/{provider}/endpoint", self.get_worker_endpoint, methods=["GET"]),
                Route(COSIGN_PATH, self.post_cosign, methods=["POST"]),
                Route(CHECKPOINT_COSIGN_PATH, self.post_cosign_checkpoints, methods=["POST"]),
                Route(HARDWARE_COSIGN_PATH, self.post_cosign_hardware, methods=["POST"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/metrics", self.prometheus, methods=["GET"]),
            ]
        )

    # -- receipts --------------------------------------------------------------------------------------

    async def _worker_key(self, provider: str, signer: str) -> str | None:
        hit = self.keys.cached(provider)
        if hit is not None and (hit[0] == signer or not self.keys.may_refresh(provider)):
            return hit[0]
        pending = self._inflight_keys.get(provider)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._inflight_keys[provider] = pending
            try:
                worker = await self.chain_pool.run(self.keys.fetch, provider)
                pending.set_result(worker)
            except Exception as exc:
                pending.set_exception(exc)
                raise
            finally:
                self._inflight_keys.pop(provider, None)
            return worker
        return await asyncio.shield(pending)

    def _wrong_media_type(self, content_type: bytes | None) -> tuple[int, dict[str, Any]] | None:
        """415 unless the body is declared as JSON: a form post or a text/plain upload is not a receipt."""
        if content_type is not None and content_type.split(b";")[0].strip().lower() == b"application/json":
            return None
        self.metrics.intake.labels("wrong_media_type").inc()
        got = content_type.decode("latin-1") if content_type else "no content type"
        return 415, {
            "error": "unsupported_media_type",
            "reason": f"send the receipt as application/json (got {got})",
        }

    def _too_large(self, limit: int) -> tuple[int, dict[str, Any]]:
        self.metrics.intake.labels("too_large").inc()
        return 413, {"error": "body_too_large", "reason": f"a receipt submission is at most {limit} bytes"}

    async def _post_receipt(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/receipts."""
        started = time.perf_counter()
        limit = self.settings.max_body
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        status: int
        payload: dict[str, Any] | None = None
        wrong = self._wrong_media_type(next((v for k, v in scope["headers"] if k == b"content-type"), None))
        if wrong is not None:
            status, payload = wrong
        elif declared is not None and declared.isdigit() and int(declared) > limit:
            status, payload = self._too_large(limit)
        else:
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    status, payload = self._too_large(limit)
                    break
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            if payload is None:
                status, payload = await self.intake(b"".join(chunks))
        data = _COMPACT.encode(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
        self.metrics.intake_latency.observe(time.perf_counter() - started)

    async def _post_heartbeat(self, scope: Scope, receive: Receive, send: Send, batch: bool = False) -> None:
        """POST /v1/heartbeats, or /v1/heartbeats/batch with `batch` (the same direct path as receipts: many
        leases, one every 30 s each)."""
        started = time.perf_counter()
        limit = self.settings.max_body
        headers = scope["headers"]
        declared = next((v for k, v in headers if k == b"content-length"), None)
        content_type = next((v for k, v in headers if k == b"content-type"), None)
        too_large_hint = "send fewer heartbeats per batch" if batch else "send one heartbeat per request"
        status: int
        payload: dict[str, Any] | None = None
        if self.heartbeat_intake is None:
            status, payload = (
                404,
                {
                    "error": "leases_disabled",
                    "reason": "this oracle does not follow a LeaseEscrow",
                    "hint": "send heartbeats to an oracle started with the lease escrow's address",
                },
            )
        elif content_type is None or content_type.split(b";")[0].strip().lower() != b"application/json":
            status, payload = (
                415,
                {
                    "error": "unsupported_media_type",
                    "reason": "a heartbeat is sent as application/json",
                    "hint": "set Content-Type: application/json",
                },
            )
        elif declared is not None and declared.isdigit() and int(declared) > limit:
            status, payload = (
                413,
                {
                    "error": "body_too_large",
                    "reason": f"a heartbeat{' batch' if batch else ''} is at most {limit} bytes",
                    "hint": too_large_hint,
                },
            )
        else:
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    status, payload = (
                        413,
                        {
                            "error": "body_too_large",
                            "reason": f"a heartbeat{' batch' if batch else ''} is at most {limit} bytes",
                            "hint": too_large_hint,
                        },
                    )
                    break
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            if payload is None:
                intake = self.heartbeat_intake
                take = intake.handle_batch if batch else intake.handle
                status, payload = await take(b"".join(chunks))
        data = _COMPACT.encode(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
        self.metrics.heartbeat_latency.observe(time.perf_counter() - started)

    async def post_worker_endpoint(self, request: Request) -> Response:
        """POST /v1/workers/endpoint: where a provider's worker is reached, signed by its worker key."""
        if self.endpoint_intake is None:
            return _error(
                404,
                "no_leases",
                "this oracle serves no LeaseEscrow, so it neither probes nor takes endpoints",
            )
        try:
            body = await _read_limited(request, 4096)
        except _TooLarge as exc:
            return _error(413, "body_too_large", f"an endpoint announcement is at most {exc.limit} bytes")
        try:
            status, payload = await self.endpoint_intake.handle(body)
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; retry shortly")
        return json_response(status, payload)

    async def get_worker_endpoint(self, request: Request) -> Response:
        """GET /v1/workers/{provider}/endpoint: the URL this oracle reaches that provider's worker at."""
        raw = request.path_params["provider"]
        if not is_address(raw):
            return _error(400, "bad_address", f"{raw[:50]!r} is not an address")
        provider = to_checksum_address(raw)
        try:
            announced = await self.store_pool.run(self.store.worker_endpoint, provider)
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; retry shortly")
        if announced is None:
            return _error(
                404, "unknown_endpoint", f"provider {provider}'s worker has announced no endpoint here"
            )
        return json_response(200, {"provider": provider, "url": announced[0], "signer": announced[1]})

    async def get_uptime(self, request: Request) -> Response:
        """Up and down seconds of `[from, to)` under the uptime rule, from the stored heartbeats and
        probes; by default from the lease's paidThrough to now (or its billing end)."""
        raw = request.path_params["lease_id"]
        if not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) < 2**63:
            return _error(400, "bad_lease_id", f"{raw[:40]!r} is not a lease id")
        lease_id = int(raw)
        params = request.query_params
        bounds: dict[str, int] = {}
        for name in ("from", "to"):
            value = params.get(name)
            if value is not None:
                if not value.isdigit() or len(value) > 19:
                    return _error(400, f"bad_{name}", f"{name}={value[:40]!r} is not unix seconds")
                bounds[name] = int(value)
        now = int(self.clock())
        terms = None
        if self.lease_terms is not None and ("from" not in bounds or "to" not in bounds):
            try:
                terms = await self.chain_pool.run(self.lease_terms.fetch, lease_id)
            except PoolBusyError as exc:
                return _error(503, "busy", f"{exc}; retry shortly")
            except Exception as exc:  # noqa: BLE001 - the chain is unreachable: give from and to, or retry
                return _error(
                    503, "chain_unavailable", f"cannot read lease {lease_id}: {exc}; give ?from=&to="
                )
        if terms is None and ("from" not in bounds or "to" not in bounds):
            return _error(
                404, "unknown_lease", f"lease {lease_id} is not known here; give ?from=&to= to ask anyway"
            )
        start = bounds.get("from", terms.paidThrough if terms else 0)
        end_default = min(now, terms.billing_end() or now) if terms else now
        end = bounds.get("to", end_default)
        if end < start:
            return _error(400, "bad_period", f"the period ends ({end}) before it starts ({start})")
        if end - start > 366 * 86400:
            return _error(400, "bad_period", "ask for at most a year at a time")
        interval = self.heartbeat_settings.interval
        try:
            report = await self.store_pool.run(lease_uptime, self.store, lease_id, interval, start, end)
            passed, failed = await self.store_pool.run(self.store.probe_counts, lease_id)
            checkpoints = await self.store_pool.run(self.store.lease_checkpoints, lease_id)
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; retry shortly")
        return json_response(
            200,
            {
                "leaseId": lease_id,
                "from": start,
                "to": end,
                "interval": interval,
                "upSeconds": report.up_seconds,
                "downSeconds": report.down_seconds,
                "heartbeats": len(report.heartbeats),
                "upBuckets": len(report.up_buckets),
                "heartbeatsRoot": "0x" + report.root().hex(),
                "probes": {"passed": passed, "failed": failed},
                "checkpoints": [
                    {
                        "fromTime": c.from_time,
                        "toTime": c.to_time,
                        "upSeconds": c.up_seconds,
                        "downSeconds": c.down_seconds,
                        "status": c.status,
                        "final": c.final,
                        **({"txHash": c.tx_hash} if c.tx_hash else {}),
                        **({"note": c.note} if c.note else {}),
                    }
                    for c in checkpoints
                ],
            },
        )

    async def intake(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Check, store and acknowledge one submission: (HTTP status, JSON document)."""
        try:
            submission = ReceiptSubmission.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            if errors and errors[0].get("type") == "json_invalid":
                self.metrics.intake.labels("malformed_json").inc()
                return 400, {
                    "error": "malformed_json",
                    "reason": f"the body is not valid JSON: {errors[0].get('msg')}",
                }
            self.metrics.intake.labels("invalid").inc()
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e.get('msg')}" for e in errors[:5]
            )
            return 422, {
                "error": "invalid_receipt",
                "reason": f"the receipt does not match the schema: {detail}",
            }
        try:
            signer, struct_hash = check_submission(submission, self.verifier, self.clock())
        except IntakeRejection as exc:
            self.metrics.intake.labels(exc.code).inc()
            return exc.status, {"error": exc.code, "reason": exc.reason}
        receipt = submission.receipt
        try:
            worker = await self._worker_key(receipt.provider, signer)
        except PoolBusyError as exc:
            self.metrics.intake.labels("busy").inc()
            return 503, {"error": "busy", "reason": f"{exc}; retry shortly"}
        except Exception as exc:  # noqa: BLE001 - the chain is unreachable: the client should retry
            self.metrics.intake.labels("chain_unavailable").inc()
            return 503, {
                "error": "chain_unavailable",
                "reason": f"cannot read the provider's worker key: {exc}",
            }
        if worker is None:
            self.metrics.intake.labels("no_worker").inc()
            return 422, {
                "error": "no_worker_key",
                "reason": f"provider {receipt.provider} has no worker key on this escrow's staking contract",
            }
        if worker != signer:
            self.metrics.intake.labels("bad_signature").inc()
            return 422, {
                "error": "bad_signature",
                "reason": f"the receipt is signed by {signer}, not by provider {receipt.provider}'s current "
                f"worker key {worker} (a rotated-out key, another chain or escrow, or a tampered receipt)",
            }
        record = NewReceipt(
            job_id=receipt.jobId,
            provider=receipt.provider,
            signer=signer,
            struct_hash=struct_hash,
            body=body.decode("utf-8"),
            end_time=receipt.endTime,
        )
        try:
            # Bounded: a wedged store answers 503; a submission still queued is withdrawn (never stored
            # after this answer), one already being committed may still be, and is a duplicate on retry.
            outcome: InsertOutcome = await asyncio.wait_for(
                asyncio.wrap_future(self.store.add_receipt(record)), self.settings.store_timeout
            )
        except TimeoutError:
            self.metrics.store_errors.inc()
            self.metrics.intake.labels("store_unavailable").inc()
            return 503, {
                "error": "store_unavailable",
                "reason": f"the store did not commit within {self.settings.store_timeout:g} s; retry later",
            }
        except StoreUnavailableError as exc:
            self.metrics.store_errors.inc()
            self.metrics.intake.labels("store_unavailable").inc()
            return 503, {
                "error": "store_unavailable",
                "reason": f"{exc.reason}; nothing was stored, retry later",
            }
        if outcome.kind == "stored":
            self.metrics.intake.labels("accepted").inc()
            return 202, {"status": ReceiptStatus.RECEIVED, "job_id": receipt.jobId}
        existing = outcome.record
        assert existing is not None
        if existing.status == ReceiptStatus.SETTLED:
            self.metrics.intake.labels("already_settled").inc()
            return 409, {
                "error": "already_settled",
                "reason": f"job {receipt.jobId} is already settled (tx {existing.tx_hash}); a receipt settles a "
                "job once, so this one is not posted again",
                "tx_hash": existing.tx_hash,
            }
        if outcome.kind == "duplicate":
            self.metrics.intake.labels("duplicate").inc()
            return 200, {**existing.public(), "duplicate": True}
        self.metrics.intake.labels("conflict").inc()
        return 409, {
            "error": "conflicting_receipt",
            "reason": f"job {receipt.jobId} already has a different receipt ({existing.status}"
            + (f": {existing.reason}" if existing.reason else "")
            + ")",
        }

    async def get_receipt(self, request: Request) -> Response:
        raw = request.path_params["job_id"]
        try:
            job_id = int(raw)
        except ValueError:
            return _error(400, "bad_job_id", f"{raw!r} is not a job id")
        if not 0 < job_id < 2**63:
            return _error(404, "unknown_receipt", f"no receipt for job {raw}")
        try:
            record = await self.store_pool.run(self.store.receipt, job_id)
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; retry shortly")
        if record is None:
            return _error(404, "unknown_receipt", f"no receipt for job {job_id} has been submitted here")
        return json_response(200, record.public())

    # -- results and specs -----------------------------------------------------------------------------

    @staticmethod
    def _hash_param(value: str) -> str | None:
        name = value.lower()
        return name if is_hex_name(name, "0x") else None

    async def _receive(self, request: Request, upload: Upload) -> bool:
        """Stream the request's body into `upload` on the files pool; False once it passes the upload's
        limit (the rest of the body is not read)."""
        async for chunk in request.stream():
            if chunk and not await self.files_pool.run(upload.write, chunk):
                return False
        return True

    async def _upload_refusal(self, request: Request, name: str) -> Response | int:
        """Why an upload is refused before its body is read, or the job id it is for."""
        raw_job = request.headers.get(JOB_HEADER, "")
        if not raw_job:
            return _error(
                401,
                "unsigned_upload",
                "a result upload needs the x-gpusettle-job and x-gpusettle-signature headers: the job's "
                "worker key signs ResultUpload(jobId, resultHash) (gpusettle.signed_requests)",
            )
        if not raw_job.isdigit() or len(raw_job) > 19 or not 0 < int(raw_job) < 2**63:
            return _error(400, "bad_job_id", f"{raw_job[:40]!r} is not a job id")
        job_id = int(raw_job)
        try:
            signature = parse_signature(request.headers.get("x-gpusettle-signature"))
            signer = recover(result_upload_digest(self.verifier.domain, job_id, name), signature)
        except InvalidSignatureError as exc:
            return _error(401, "unsigned_upload", f"the upload's signature is unusable: {exc.message}")
        try:
            jobs = await self.chain_pool.run(self.keys.view.jobs, [job_id])
            job = jobs.get(job_id)
            worker = await self._worker_key(job.provider, signer) if job is not None else None
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; retry shortly")
        except Exception as exc:  # noqa: BLE001 - the chain is unreachable: the client should retry
            return _error(503, "chain_unavailable", f"cannot read job {job_id}: {exc}")
        if job is None:
            return _error(404, "unknown_job", f"job {job_id} does not exist on this escrow")
        if job.status != JobStatus.RUNNING:
            return _error(
                409,
                "job_not_running",
                f"job {job_id} is {job.status}: results are taken only for running jobs",
            )
        if worker is None or worker != signer:
            return _error(
                403,
                "not_the_worker",
                f"the upload is signed by {signer}, not by provider {job.provider}'s worker key {worker} for "
                f"job {job_id} and payload {name}",
            )
        return job_id

    async def put_result(self, request: Request) -> Response:
        """Stream a payload to disk, hashing it on the way; the job's worker key must have signed it."""
        name = self._hash_param(request.path_params["result_hash"])
        if name is None:
            return _error(
                400, "bad_hash", "the path must end in the payload's keccak256 as 0x + 64 hex digits"
            )
        limit = self.settings.max_result
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return _error(413, "body_too_large", f"a result payload is at most {limit} bytes")
        refusal = await self._upload_refusal(request, name)
        if isinstance(refusal, Response):
            return refusal
        job_id = refusal
        try:
            upload: Upload = await self.files_pool.run(self.results.begin, limit)
        except (PoolBusyError, OSError) as exc:
            return _storing_failed(exc, "the payload")
        committed = False
        try:
            if not await self._receive(request, upload):
                return _error(413, "body_too_large", f"a result payload is at most {limit} bytes")
            if not await self.files_pool.run(self.results.finish, upload, name, job_id):
                return _error(422, "hash_mismatch", f"the payload hashes to {upload.digest()}, not {name}")
            committed = True
        except (ClientDisconnect, PoolBusyError, OSError) as exc:
            return _storing_failed(exc, "the payload")
        finally:
            if not committed:
                upload.abort()
        return json_response(201, {"stored": name, "size": upload.size})

    async def get_result(self, request: Request) -> Response:
        """Stream a stored payload in chunks read on the files pool."""
        name = self._hash_param(request.path_params["result_hash"])
        if name is None:
            return _error(400, "bad_hash", "the path must end in a keccak256 as 0x + 64 hex digits")
        return await self._stream(self.results.path(name), "unknown_result", f"no payload {name} here")

    # -- client inputs -------------------------------------------------------------------------------

    @staticmethod
    def _input_name(value: str) -> str | None:
        name = value.lower()
        return name if valid_input_name(name) else None

    async def _input_refusal(self, request: Request, name: str) -> Response | tuple[InputUploadAuth, int]:
        """Why an input upload is refused before its body is read, or its checked signature and size."""
        try:
            auth = InputUploadAuth.check(self.verifier.domain, dict(request.headers), name, self.clock())
        except InvalidSignatureError as exc:
            reason = exc.message + (f"; {exc.hint}" if exc.hint else "")
            return _error(401, "unsigned_upload", f"the input upload's signature is unusable: {reason}")
        limit = self.settings.max_input
        if auth.size > limit:
            return _error(
                413,
                "body_too_large",
                f"an input file is at most {limit} bytes (this one is {auth.size}); serve larger data from "
                "your own URL (url + sha256 + size in the spec)",
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared != str(auth.size):
            return _error(
                400,
                "size_mismatch",
                f"the body is {declared[:20]} bytes, the signed size is {auth.size}: send exactly the file signed",
            )
        return auth, auth.size

    async def put_input(self, request: Request) -> Response:
        """Stream a client's input file to disk, hashing it on the way; its account key must have signed
        the hash, size and expiry, and its quota must have room, before a byte of the body is read."""
        name = self._input_name(request.path_params["sha256"])
        if name is None:
            return _error(400, "bad_hash", "the path must end in the input's sha256 as 64 hex digits")
        checked = await self._input_refusal(request, name)
        if isinstance(checked, Response):
            return checked
        auth, size = checked
        try:
            reservation: Reservation = self.inputs.reserve(auth.signer, size, self.clock())
        except QuotaExceeded as exc:
            return _error(429, "over_quota", exc.reason)
        committed = False
        try:
            existing = await self.files_pool.run(self.inputs.stored_size, name)
            if existing is not None and existing == size:
                # Same hash, same size: the same bytes (sha256). Retention restarts; the body is not read.
                await self.files_pool.run(self.inputs.refresh, name, reservation)
                committed = True
                return json_response(200, {"stored": name, "size": size, "existing": True})
            upload: Upload = await self.files_pool.run(self.inputs.begin, size)
            try:
                if not await self._receive(request, upload):
                    return _error(
                        413, "body_too_large", f"the body is longer than its signed size of {size} bytes"
                    )
                if upload.size != size:
                    return _error(
                        400, "size_mismatch", f"the body is {upload.size} bytes, the signed size is {size}"
                    )
                if not await self.files_pool.run(self.inputs.finish, upload, name, reservation):
                    digest = upload.digest().removeprefix("0x")
                    return _error(422, "hash_mismatch", f"the input hashes (sha256) to {digest}, not {name}")
                committed = True
            finally:
                if not committed:
                    upload.abort()
        except (ClientDisconnect, PoolBusyError, OSError) as exc:
            return _storing_failed(exc, "the input")
        finally:
            if not committed:
                self.inputs.release(reservation)
        return json_response(201, {"stored": name, "size": size})

    async def get_input(self, request: Request) -> Response:
        """Stream a stored input; `Range: bytes=N-` resumes a partial download (206)."""
        name = self._input_name(request.path_params["sha256"])
        if name is None:
            return _error(400, "bad_hash", "the path must end in an input's sha256 as 64 hex digits")
        start = 0
        wanted = request.headers.get("range")
        if wanted is not None:
            spec = wanted.strip().lower().removeprefix("bytes=")
            if (
                not wanted.strip().lower().startswith("bytes=")
                or not spec.endswith("-")
                or not spec[:-1].isdigit()
            ):
                return _error(416, "bad_range", f"only 'Range: bytes=N-' is served, not {wanted[:60]!r}")
            start = int(spec[:-1][:20])
        return await self._stream(self.inputs.path(name), "unknown_input", f"no input {name} here", start)

    async def _stream(self, path: Path, missing: str, reason: str, start: int = 0) -> Response:
        """Stream a file in chunks read on the files pool (206 from `start` when it is not 0)."""
        try:
            handle = await self.files_pool.run(_open_binary, path)
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; retry shortly")
        except OSError:
            return _error(404, missing, reason)
        size = os.fstat(handle.fileno()).st_size
        headers = {"content-length": str(size - start)}
        if start:
            if start >= size:
                handle.close()
                return _error(416, "bad_range", f"the file has {size} bytes; a range from {start} is empty")
            handle.seek(start)
            headers["content-range"] = f"bytes {start}-{size - 1}/{size}"
        pool = self.files_pool

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    data = await pool.run(handle.read, _CHUNK)
                    if not data:
                        return
                    yield data
            finally:
                handle.close()

        return StreamingResponse(
            chunks(), 206 if start else 200, headers=headers, media_type="application/octet-stream"
        )

    async def put_spec(self, request: Request) -> Response:
        name = self._hash_param(request.path_params["spec_hash"])
        if name is None:
            return _error(400, "bad_hash", "the path must end in the specHash as 0x + 64 hex digits")
        try:
            body = await _read_limited(request, self.settings.max_spec)
        except _TooLarge as exc:
            return _error(413, "body_too_large", f"a job spec is at most {exc.limit} bytes")
        try:
            spec = JobSpec.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            return _error(422, "invalid_spec", f"not a job spec: {first.get('loc')}: {first.get('msg')}")
        if spec.spec_hash() != name:
            return _error(
                422, "hash_mismatch", f"the spec's canonical JSON hashes to {spec.spec_hash()}, not {name}"
            )
        try:
            await self.store_pool.run(self.store.put_spec, name, spec.canonical_json().decode("utf-8"))
        except StoreUnavailableError as exc:
            return _error(503, "store_unavailable", exc.reason)
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; retry shortly")
        return json_response(201, {"stored": name})

    async def get_spec(self, request: Request) -> Response:
        name = self._hash_param(request.path_params["spec_hash"])
        if name is None:
            return _error(400, "bad_hash", "the path must end in a specHash as 0x + 64 hex digits")
        try:
            body = await self.store_pool.run(self.store.spec, name)
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; retry shortly")
        if body is None:
            return _error(404, "unknown_spec", f"no spec {name} was published here")
        return Response(body.encode("utf-8"), 200, media_type="application/json")

    # -- peers, health, metrics ------------------------------------------------------------------------

    async def _peer_body(self, request: Request, path: str) -> Response | tuple[str, bytes]:
        """The body of a peer request and its signer, checked as a member of the on-chain oracle set;
        or the refusal."""
        try:
            body = await _read_limited(request, self.settings.max_cosign)
        except _TooLarge as exc:
            return _error(413, "body_too_large", f"a cosign request is at most {exc.limit} bytes")
        except ClientDisconnect:
            return _error(400, "disconnected", "the client went away")
        try:
            auth = PeerRequestAuth.check(
                self.verifier.domain, dict(request.headers), "POST", path, body, self.clock()
            )
        except InvalidSignatureError as exc:
            return _error(401, "unsigned_peer_request", str(exc))
        try:
            oracle_set = await self.chain_pool.run(self.keys.view.oracle_set)
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; retry shortly")
        except Exception as exc:  # noqa: BLE001 - the chain is unreachable: the peer should retry
            return _error(503, "chain_unavailable", f"cannot read the oracle set: {exc}")
        if auth.signer.lower() not in {o.lower() for o in oracle_set.oracles}:
            return _error(
                403,
                "not_an_oracle_peer",
                f"{auth.signer} is not in the oracle set of epoch {oracle_set.epoch}: only its members may ask "
                "for co-signatures",
            )
        return auth.signer, body

    @staticmethod
    def _invalid(exc: ValidationError, what: str) -> Response:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e.get('msg')}" for e in errors[:5]
        )
        return _error(422, "invalid_request", f"not a {what}: {detail}")

    async def _cosign(
        self,
        request: Request,
        path: str,
        model: type[BaseModel],
        handler: Callable[[Any, str], tuple[int, dict[str, Any]]] | None,
        what: str,
        absent: str,
    ) -> Response:
        """A peer's request to co-sign: signed by a member of the on-chain oracle set, parsed as `model` and
        checked by `handler` on the peers pool (which is bounded: a flood of requests gets 503s, not a queue)."""
        if handler is None:
            return _error(404, "not_a_peer", absent)
        checked = await self._peer_body(request, path)
        if isinstance(checked, Response):
            return checked
        signer, body = checked
        try:
            cosign_request = model.model_validate_json(body)
        except ValidationError as exc:
            return self._invalid(exc, what)
        try:
            status, answer = await self.peers_pool.run(handler, cosign_request, signer)
        except PoolBusyError as exc:
            return _error(503, "busy", f"{exc}; ask again shortly")
        return json_response(status, answer)

    async def post_cosign(self, request: Request) -> Response:
        """A peer's batch of receipts to co-sign (each verified independently)."""
        return await self._cosign(
            request, COSIGN_PATH, CosignRequest, self.cosign, "cosign request",
            "this oracle does not co-sign for peers",
        )  # fmt: skip

    async def post_cosign_checkpoints(self, request: Request) -> Response:
        """A peer's batch of lease checkpoints to co-sign (checked against this oracle's own heartbeats)."""
        return await self._cosign(
            request, CHECKPOINT_COSIGN_PATH, CheckpointCosignRequest, self.cosign_checkpoints,
            "checkpoint cosign request", "this oracle does not co-sign lease checkpoints",
        )  # fmt: skip

    async def post_cosign_hardware(self, request: Request) -> Response:
        """A peer's hardware verdict to co-sign (this oracle challenges the offer itself first)."""
        return await self._cosign(
            request, HARDWARE_COSIGN_PATH, HardwareCosignRequest, self.cosign_hardware,
            "hardware cosign request", "this oracle does not co-sign hardware checks",
        )  # fmt: skip

    async def health(self, request: Request) -> Response:
        try:
            problem = await self.health_pool.run(self.store.check_writable)
            counts = await self.health_pool.run(self.store.counts)
        except PoolBusyError as exc:
            return json_response(503, {"status": "unavailable", "reason": str(exc), **self.info})
        if problem is not None:
            return json_response(
                503, {"status": "unavailable", "reason": problem, "receipts": counts, **self.info}
            )
        return json_response(200, {"status": "ok", "receipts": counts, **self.info})

    async def prometheus(self, request: Request) -> Response:
        try:
            data = await self.health_pool.run(generate_latest, self.metrics.registry)
        except PoolBusyError as exc:
            return _error(503, "busy", str(exc))
        return Response(data, 200, headers={"Content-Type": CONTENT_TYPE_LATEST})


def resolved(value: Any) -> Future[Any]:
    """A finished future holding `value` (tests)."""
    future: Future[Any] = Future()
    future.set_result(value)
    return future
