"""The oracle's HTTP API, an ASGI app (Starlette) served by uvicorn.

    POST /v1/receipts            submit a signed receipt (JSON, ReceiptSubmission); 202 once stored
    GET  /v1/receipts/{job_id}   its status: received, verified, rejected (+reason), posted, settled (+tx)
    PUT  /v1/results/{hash}      upload a result payload (the matmul product) by its keccak256
    GET  /v1/results/{hash}      fetch one (peers use this to check a matmul result)
    PUT  /v1/specs/{hash}        publish a job spec (canonical JSON) under its specHash
    GET  /v1/specs/{hash}        fetch one (workers use this to learn what to run)
    POST /v1/cosign              peers: verify a batch independently and co-sign its attestation
    GET  /health                 200 when the store can commit, 503 with the reason when it cannot
    GET  /metrics                Prometheus metrics

Every refusal is a 4xx (or 503 when the store cannot commit) with a JSON body
{"error": <code>, "reason": <what was wrong and what to do>}.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..atomicfile import write_atomic
from ..eip712 import ReceiptVerifier
from ..hashing import keccak256
from ..models import JobSpec
from .chainview import WorkerKeyCache
from .metrics import OracleMetrics
from .store import InsertOutcome, NewReceipt, Store, StoreUnavailableError
from .verify import IntakeRejection, ReceiptSubmission, check_submission

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_RESULT", "IntakeSettings", "OracleApp", "json_response"]

DEFAULT_MAX_BODY = 64 * 1024
"""Largest receipt submission accepted (a receipt with evidence is well under 4 KiB)."""
DEFAULT_MAX_RESULT = 512 * 1024 * 1024
"""Largest result payload accepted (a float32 8192 x 8192 product is 256 MiB)."""
DEFAULT_MAX_SPEC = 256 * 1024


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def json_response(status: int, payload: dict[str, Any]) -> Response:
    """A JSON response without Starlette's slower generic encoder."""
    return Response(
        json.dumps(payload, separators=(",", ":")).encode(), status, media_type="application/json"
    )


def _error(status: int, code: str, reason: str) -> Response:
    return json_response(status, {"error": code, "reason": reason})


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


@dataclass
class IntakeSettings:
    """Limits of the HTTP API."""

    max_body: int = DEFAULT_MAX_BODY
    max_result: int = DEFAULT_MAX_RESULT
    max_spec: int = DEFAULT_MAX_SPEC
    store_timeout: float = 10.0
    """Seconds a submission waits for its commit before it is answered 503 (retry later)."""


CosignHandler = Callable[[dict[str, Any]], Awaitable[tuple[int, dict[str, Any]]]]


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
    _inflight_keys: dict[str, asyncio.Future[str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.metrics.watch_store(self.store.counts)

    def asgi(self) -> ASGIApp:
        """The ASGI application: POST /v1/receipts on a direct path, everything else through Starlette."""
        routes = self._starlette()
        fast = self._fast_post_receipt

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/receipts":
                await fast(scope, receive, send)
            else:
                await routes(scope, receive, send)

        return app

    def _starlette(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/receipts", self.post_receipt, methods=["POST"]),
                Route("/v1/receipts/{job_id}", self.get_receipt, methods=["GET"]),
                Route("/v1/results/{result_hash}", self.put_result, methods=["PUT"]),
                Route("/v1/results/{result_hash}", self.get_result, methods=["GET"]),
                Route("/v1/specs/{spec_hash}", self.put_spec, methods=["PUT"]),
                Route("/v1/specs/{spec_hash}", self.get_spec, methods=["GET"]),
                Route("/v1/cosign", self.post_cosign, methods=["POST"]),
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
                worker = await asyncio.to_thread(self.keys.fetch, provider)
                pending.set_result(worker)
            except Exception as exc:
                pending.set_exception(exc)
                raise
            finally:
                self._inflight_keys.pop(provider, None)
            return worker
        return await asyncio.shield(pending)

    async def post_receipt(self, request: Request) -> Response:
        started = time.perf_counter()
        ctype = request.headers.get("content-type")
        wrong = self._wrong_media_type(ctype.encode("latin-1") if ctype is not None else None)
        if wrong is not None:
            return json_response(*wrong)
        try:
            body = await _read_limited(request, self.settings.max_body)
        except _TooLarge as exc:
            status, payload = self._too_large(exc.limit)
        except ClientDisconnect:
            return _error(400, "disconnected", "the client went away")
        else:
            status, payload = await self.intake(body)
        self.metrics.intake_latency.observe(time.perf_counter() - started)
        return json_response(status, payload)

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

    async def _fast_post_receipt(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/receipts without Starlette's request and response objects: the hot path."""
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
        data = json.dumps(payload, separators=(",", ":")).encode()
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
            signer, struct_hash = check_submission(submission, self.verifier, time.time())
        except IntakeRejection as exc:
            self.metrics.intake.labels(exc.code).inc()
            return exc.status, {"error": exc.code, "reason": exc.reason}
        receipt = submission.receipt
        try:
            worker = await self._worker_key(receipt.provider, signer)
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
            return 202, {"status": "received", "job_id": receipt.jobId}
        existing = outcome.record
        assert existing is not None
        if existing.status == "settled":
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
        record = await asyncio.to_thread(self.store.receipt, job_id)
        if record is None:
            return _error(404, "unknown_receipt", f"no receipt for job {job_id} has been submitted here")
        return json_response(200, record.public())

    # -- results and specs -----------------------------------------------------------------------------

    @staticmethod
    def _hash_param(value: str) -> str | None:
        name = value.lower()
        if len(name) != 66 or not name.startswith("0x"):
            return None
        try:
            bytes.fromhex(name[2:])
        except ValueError:
            return None
        return name

    async def put_result(self, request: Request) -> Response:
        name = self._hash_param(request.path_params["result_hash"])
        if name is None:
            return _error(
                400, "bad_hash", "the path must end in the payload's keccak256 as 0x + 64 hex digits"
            )
        try:
            body = await _read_limited(request, self.settings.max_result)
        except _TooLarge as exc:
            return _error(413, "body_too_large", f"a result payload is at most {exc.limit} bytes")
        except ClientDisconnect:
            return _error(400, "disconnected", "the client went away")
        actual = "0x" + (await asyncio.to_thread(keccak256, body)).hex()
        if actual != name:
            return _error(422, "hash_mismatch", f"the payload hashes to {actual}, not {name}")
        path = self.results_dir / name
        if not path.exists():
            try:
                await asyncio.to_thread(write_atomic, path, body, 0o644)
            except OSError as exc:
                return _error(503, "store_unavailable", f"cannot store the payload: {exc.strerror or exc}")
        return json_response(201, {"stored": name, "size": len(body)})

    async def get_result(self, request: Request) -> Response:
        name = self._hash_param(request.path_params["result_hash"])
        if name is None:
            return _error(400, "bad_hash", "the path must end in a keccak256 as 0x + 64 hex digits")
        path = self.results_dir / name
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError:
            return _error(404, "unknown_result", f"no payload {name} here")
        return Response(data, 200, media_type="application/octet-stream")

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
            await asyncio.to_thread(self.store.put_spec, name, spec.canonical_json().decode("utf-8"))
        except StoreUnavailableError as exc:
            return _error(503, "store_unavailable", exc.reason)
        return json_response(201, {"stored": name})

    async def get_spec(self, request: Request) -> Response:
        name = self._hash_param(request.path_params["spec_hash"])
        if name is None:
            return _error(400, "bad_hash", "the path must end in a specHash as 0x + 64 hex digits")
        body = await asyncio.to_thread(self.store.spec, name)
        if body is None:
            return _error(404, "unknown_spec", f"no spec {name} was published here")
        return Response(body.encode("utf-8"), 200, media_type="application/json")

    # -- peers, health, metrics ------------------------------------------------------------------------

    async def post_cosign(self, request: Request) -> Response:
        if self.cosign is None:
            return _error(404, "not_a_peer", "this oracle does not co-sign for peers")
        try:
            body = await _read_limited(request, self.settings.max_body * 1024)
            payload = json.loads(body)
        except _TooLarge as exc:
            return _error(413, "body_too_large", f"a cosign request is at most {exc.limit} bytes")
        except (ValueError, ClientDisconnect) as exc:
            return _error(400, "malformed_json", f"the body is not valid JSON: {exc}")
        if not isinstance(payload, dict):
            return _error(422, "invalid_request", "expected a JSON object")
        status, answer = await self.cosign(payload)
        return json_response(status, answer)

    async def health(self, request: Request) -> Response:
        problem = await asyncio.to_thread(self.store.check_writable)
        counts = await asyncio.to_thread(self.store.counts)
        if problem is not None:
            return json_response(
                503, {"status": "unavailable", "reason": problem, "receipts": counts, **self.info}
            )
        return json_response(200, {"status": "ok", "receipts": counts, **self.info})

    async def prometheus(self, request: Request) -> Response:
        data = await asyncio.to_thread(generate_latest, self.metrics.registry)
        return Response(data, 200, headers={"Content-Type": CONTENT_TYPE_LATEST})


def resolved(value: Any) -> Future[Any]:
    """A finished future holding `value` (tests)."""
    future: Future[Any] = Future()
    future.set_result(value)
    return future
