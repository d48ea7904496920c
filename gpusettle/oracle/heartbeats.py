"""Lease heartbeat intake (POST /v1/heartbeats, and /v1/heartbeats/batch for several at once) and the
uptime view (GET /v1/leases/{id}/uptime).

Same discipline as receipts: everything that needs no chain is checked first (shape, sequence,
clock skew, evidence hash, signature), then the lease (it exists, is Running, belongs to the
provider) and the provider's current worker key through caches read on the chain pool; the heartbeat
is committed to the store before the 202. A second heartbeat for a (lease, sequence) is answered 200
`duplicate` and changes nothing: the first one counts, so a restarted worker never double-counts.
Every refusal is a 4xx with {"error", "reason", "hint"}.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..eip712 import Domain
from ..errors import InvalidSignatureError
from ..leases.eip712 import HeartbeatVerifier
from ..leases.models import (
    DEFAULT_HEARTBEAT_INTERVAL,
    MAX_HEARTBEAT_BATCH,
    HeartbeatBatch,
    HeartbeatSubmission,
    LeaseStatus,
    LeaseTerms,
    evidence_hash,
)
from ..leases.uptime import Uptime, uptime
from .leaseview import LeaseTermsCache
from .metrics import OracleMetrics
from .store import NewHeartbeat, Store, StoredHeartbeat, StoreUnavailableError

__all__ = ["HeartbeatIntake", "HeartbeatSettings", "lease_uptime", "stored_heartbeats"]

MAX_LEASE_ID = 2**63 - 1

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class HeartbeatSettings:
    """How heartbeats are cut into buckets and how far their clocks may be off."""

    interval: int = DEFAULT_HEARTBEAT_INTERVAL
    """Seconds per bucket: sequence = timestamp // interval (the workers' setting must match)."""
    max_ahead: int = 15
    """How far a heartbeat's timestamp may be ahead of the oracle's clock, seconds."""
    max_age: int = 600
    """How old a heartbeat may be when it arrives (a worker retrying with backoff), seconds."""


def _refuse(status: int, code: str, reason: str, hint: str) -> Answer:
    return status, {"error": code, "reason": reason, "hint": hint}


@dataclass(frozen=True)
class _Refusal:
    answer: Answer


def stored_heartbeats(rows: list[StoredHeartbeat]) -> list[Any]:
    """The signed Heartbeat models of stored rows (bodies were validated at intake)."""
    return [HeartbeatSubmission.model_validate_json(r.body).heartbeat() for r in rows]


def lease_uptime(store: Store, lease_id: int, interval: int, start: int, end: int) -> Uptime:
    """The uptime rule over what the store holds for `[start, end)` (blocking)."""
    first, last = start // interval, (end + interval - 1) // interval + 1
    beats = stored_heartbeats(store.heartbeats(lease_id, first, last))
    return uptime(beats, store.failed_probes(lease_id, first, last), interval, start, end)


class HeartbeatIntake:
    """Checks, stores and acknowledges heartbeats for one LeaseEscrow."""

    def __init__(
        self,
        domain: Domain,
        store: Store,
        leases: LeaseTermsCache,
        worker_key: Callable[[str, str], Awaitable[str | None]],
        run_chain: Callable[..., Awaitable[Any]],
        clock: Callable[[], float],
        metrics: OracleMetrics,
        settings: HeartbeatSettings | None = None,
        store_timeout: float = 10.0,
    ) -> None:
        """`worker_key(provider, signer)` is the app's cached worker-key lookup; `run_chain(fn, *args)`
        runs a blocking chain read on the app's chain pool."""
        self.verifier = HeartbeatVerifier(domain)
        self.store = store
        self.leases = leases
        self.worker_key = worker_key
        self.run_chain = run_chain
        self.clock = clock
        self.metrics = metrics
        self.settings = settings or HeartbeatSettings()
        self.store_timeout = store_timeout
        self._counters: dict[str, Any] = {}

    def _count(self, result: str) -> None:
        counter = self._counters.get(result)
        if counter is None:  # labels() takes a lock and builds a key on every call: one child per result
            counter = self._counters[result] = self.metrics.heartbeats.labels(result)
        counter.inc()

    def _malformed(self, why: object) -> Answer:
        self._count("malformed_json")
        return _refuse(400, "malformed_json", f"the body is not valid JSON: {why}", "send JSON")

    def _parse(self, body: bytes) -> HeartbeatSubmission | Answer:
        try:
            return HeartbeatSubmission.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            if errors and errors[0].get("type") == "json_invalid":
                return self._malformed(errors[0].get("msg"))
            self._count("invalid")
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e.get('msg')}" for e in errors[:5]
            )
            return _refuse(
                422,
                "invalid_heartbeat",
                f"the heartbeat does not match the schema: {detail}",
                "send the LeaseHeartbeat fields, evidence and signature (gpusettle.leases.models.HeartbeatSubmission)",
            )

    def _offline_checks(self, sub: HeartbeatSubmission) -> tuple[str, bytes] | _Refusal:
        """Everything that needs no chain: (recovered signer, struct hash) or a refusal."""
        interval = self.settings.interval
        if sub.leaseId == 0 or sub.leaseId > MAX_LEASE_ID:
            self._count("unknown_lease")
            return _Refusal(
                _refuse(404, "unknown_lease", f"lease {sub.leaseId} cannot exist", "lease ids run from 1")
            )
        if sub.sequence != sub.timestamp // interval:
            self._count("wrong_sequence")
            return _Refusal(
                _refuse(
                    422,
                    "wrong_sequence",
                    f"sequence {sub.sequence} is not timestamp {sub.timestamp} // {interval} = {sub.timestamp // interval}",
                    f"this oracle cuts heartbeats into {interval}-second buckets; set the worker's heartbeat interval to {interval}",
                )
            )
        now = int(self.clock())
        if sub.timestamp > now + self.settings.max_ahead:
            self._count("clock_skew")
            return _Refusal(
                _refuse(
                    422,
                    "clock_skew",
                    f"the heartbeat's timestamp {sub.timestamp} is {sub.timestamp - now} s ahead of the oracle's clock",
                    "synchronise the worker's clock (NTP) and send the heartbeat again",
                )
            )
        if sub.timestamp < now - self.settings.max_age:
            self._count("stale")
            return _Refusal(
                _refuse(
                    422,
                    "stale_heartbeat",
                    f"the heartbeat is {now - sub.timestamp} s old; at most {self.settings.max_age} s is taken",
                    "send heartbeats as they happen; a bucket without one counts as down",
                )
            )
        observed = evidence_hash(sub.evidence)
        if observed != sub.evidenceHash:
            self._count("evidence_mismatch")
            return _Refusal(
                _refuse(
                    422,
                    "evidence_mismatch",
                    f"the evidence hashes to {observed}, not the signed evidenceHash {sub.evidenceHash}",
                    "hash the evidence's canonical JSON (sorted keys, no spaces) with keccak256 before signing",
                )
            )
        try:
            return self.verifier.verify(sub.heartbeat(), bytes.fromhex(sub.signature[2:]))
        except InvalidSignatureError as exc:
            self._count("bad_signature")
            return _Refusal(
                _refuse(
                    422,
                    "bad_signature",
                    f"the heartbeat's signature is invalid: {exc.message}",
                    "sign the LeaseHeartbeat EIP-712 digest with the worker key (65 bytes r || s || v)",
                )
            )

    async def _lease(self, lease_id: int) -> LeaseTerms | None:
        hit = self.leases.cached(lease_id)
        if hit is not None:
            return hit[0]
        terms: LeaseTerms | None = await self.run_chain(self.leases.fetch, lease_id)
        return terms

    async def _chain_checks(self, sub: HeartbeatSubmission, signer: str) -> Answer | None:
        try:
            lease = await self._lease(sub.leaseId)
            worker = await self.worker_key(sub.provider, signer) if lease is not None else None
        except Exception as exc:  # noqa: BLE001 - a full pool or an unreachable node: retry later
            self._count("chain_unavailable")
            return 503, {
                "error": "chain_unavailable",
                "reason": f"cannot read lease {sub.leaseId} or its provider's worker key: {exc}",
                "hint": "retry shortly",
            }
        if lease is None:
            self._count("unknown_lease")
            return _refuse(
                404,
                "unknown_lease",
                f"lease {sub.leaseId} does not exist on this LeaseEscrow",
                "check the lease id",
            )
        if lease.provider != sub.provider:
            self._count("wrong_provider")
            return _refuse(
                422,
                "wrong_provider",
                f"lease {sub.leaseId} belongs to provider {lease.provider}, not {sub.provider}",
                "send heartbeats only for your own leases, naming your staking wallet as provider",
            )
        if lease.status != LeaseStatus.RUNNING:
            self._count("lease_not_running")
            return _refuse(
                409,
                "lease_not_running",
                f"lease {sub.leaseId} is {lease.status.name.lower()}: heartbeats are taken only for running leases",
                "stop sending heartbeats for this lease",
            )
        if worker is None or worker != signer:
            self._count("not_the_worker")
            return _refuse(
                403,
                "not_the_worker",
                f"the heartbeat is signed by {signer}, not by provider {sub.provider}'s current worker key {worker}",
                "sign with the worker key registered on the staking contract (a rotated-out key no longer counts)",
            )
        return None

    async def handle(self, body: bytes) -> Answer:
        """Check, store and acknowledge one heartbeat: (HTTP status, JSON document)."""
        parsed = self._parse(body)
        if isinstance(parsed, tuple):
            return parsed
        return (await self._take([(parsed, body.decode("utf-8"))]))[0]

    async def handle_batch(self, body: bytes) -> Answer:
        """Check, store and acknowledge a batch (POST /v1/heartbeats/batch): 200 with one answer per
        heartbeat, in order, each {"code": <what POST /v1/heartbeats would answer>, ...its document};
        a 4xx for the whole request only when the batch itself is malformed."""
        items = self._parse_batch(body)
        if isinstance(items, tuple):
            return items
        answers: list[Answer | None] = [item if isinstance(item, tuple) else None for item in items]
        parsed = [(i, item) for i, item in enumerate(items) if not isinstance(item, tuple)]
        # Stored as its own canonical JSON, as if it had come alone.
        taken = await self._take([(sub, sub.model_dump_json()) for _, sub in parsed])
        for (index, _), answer in zip(parsed, taken, strict=True):
            answers[index] = answer
        return 200, {
            "results": [{"code": code, **doc} for code, doc in (a for a in answers if a is not None)]
        }

    def _parse_batch(self, body: bytes) -> list[HeartbeatSubmission | Answer] | Answer:
        try:
            return list(HeartbeatBatch.model_validate_json(body).heartbeats)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            if errors and errors[0].get("type") == "json_invalid":
                # Not JSON to the parser every heartbeat goes through: refused whole, as POST /v1/heartbeats
                # refuses it (a laxer parser below must not take what this one does not).
                return self._malformed(errors[0].get("msg"))
            # Valid JSON that is not a valid batch: find what is wrong, and with which heartbeats, below.
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return self._malformed(exc)
        raw = doc.get("heartbeats") if isinstance(doc, dict) else None
        if not isinstance(raw, list) or set(doc) != {"heartbeats"}:
            self._count("invalid")
            return _refuse(
                422,
                "invalid_batch",
                'a heartbeat batch is a JSON object {"heartbeats": [...]} and nothing else',
                "send the heartbeats as a list under the key heartbeats",
            )
        if not 1 <= len(raw) <= MAX_HEARTBEAT_BATCH:
            self._count("invalid")
            return _refuse(
                422,
                "invalid_batch",
                f"a batch holds 1 to {MAX_HEARTBEAT_BATCH} heartbeats, not {len(raw)}",
                f"split the heartbeats into batches of at most {MAX_HEARTBEAT_BATCH}",
            )
        # Each on its own: one bad heartbeat is refused with its reason, the others are taken.
        try:
            return [self._parse(json.dumps(item).encode()) for item in raw]
        except RecursionError:
            self._count("malformed_json")
            return _refuse(
                400, "malformed_json", "the body nests too deeply", "send one flat heartbeat per item"
            )

    async def _take(self, items: list[tuple[HeartbeatSubmission, str]]) -> list[Answer]:
        """Check each parsed heartbeat, store the good ones in one operation (one commit), answer each."""
        answers: list[Answer | None] = [None] * len(items)
        pending: list[tuple[int, HeartbeatSubmission, bytes]] = []
        records: list[NewHeartbeat] = []
        for index, (sub, text) in enumerate(items):
            checked = self._offline_checks(sub)
            if isinstance(checked, _Refusal):
                answers[index] = checked.answer
                continue
            signer, struct_hash = checked
            refusal = await self._chain_checks(sub, signer)
            if refusal is not None:
                answers[index] = refusal
                continue
            pending.append((index, sub, struct_hash))
            records.append(
                NewHeartbeat(
                    lease_id=sub.leaseId,
                    sequence=sub.sequence,
                    provider=sub.provider,
                    signer=signer,
                    timestamp=sub.timestamp,
                    service_up=sub.serviceUp,
                    struct_hash=struct_hash,
                    body=text,
                )
            )
        if records:
            outcomes: list[Any]
            try:
                outcomes = await asyncio.wait_for(
                    asyncio.wrap_future(self.store.add_heartbeats(records)), self.store_timeout
                )
            except TimeoutError:
                outcomes = [
                    StoreUnavailableError(f"the store did not commit within {self.store_timeout:g} s")
                ] * len(records)
            except StoreUnavailableError as exc:
                outcomes = [exc] * len(records)
            for (index, sub, struct_hash), outcome in zip(pending, outcomes, strict=True):
                answers[index] = self._answer(sub, struct_hash, outcome)
        return [a for a in answers if a is not None]

    def _answer(self, sub: HeartbeatSubmission, struct_hash: bytes, outcome: Any) -> Answer:
        if isinstance(outcome, StoreUnavailableError):
            self._count("store_unavailable")
            return 503, {"error": "store_unavailable", "reason": outcome.reason, "hint": "retry later"}
        if outcome.kind == "stored":
            self._count("accepted")
            return 202, {"status": "stored", "leaseId": sub.leaseId, "sequence": sub.sequence}
        self._count("duplicate")
        kept = outcome.record
        assert kept is not None
        return 200, {
            "status": "duplicate",
            "duplicate": True,
            "leaseId": sub.leaseId,
            "sequence": sub.sequence,
            "kept": "0x" + kept.struct_hash.hex(),
            "same": kept.struct_hash == struct_hash,
        }
