"""Lease heartbeats: every interval, per running lease, a LeaseHeartbeat signed by the worker key and
sent to each oracle, which counts the interval "up" when the service was alive.

The typed data is the lease interface's (EIP-712, domain "gpusettle LeaseEscrow" version 1):
`LeaseHeartbeat(uint256 leaseId,address provider,uint64 timestamp,uint64 sequence,bytes32 evidenceHash,
bool serviceUp)`, sequence = timestamp // interval, evidenceHash = keccak256 of the canonical JSON
(sorted keys, no spaces) of `{"gpus":[{"uuid","util","memUsedMb"}], "pid", "alive"}`.

The digest, the evidence hash and the models are the shared `gpusettle.leases` ones (the oracle checks
with the same code).

Exactly once per bucket: the heartbeat of a (lease, sequence) is signed once, stored in the outbox
with the lease's last signed sequence in one transaction, then sent until each oracle acknowledges
it. A restarted worker re-sends the same document for a bucket it already signed and signs nothing
twice, and the oracle keeps one heartbeat per (lease, sequence) besides.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..eip712 import Domain
from ..leases.eip712 import sign_heartbeat
from ..leases.models import MAX_HEARTBEAT_BATCH, Heartbeat, HeartbeatEvidence, evidence_hash
from .nvml import _nvml, probe_gpus
from .state import WorkerState
from .submit import backoff_delay

__all__ = ["HeartbeatSender", "LeaseLiveness", "gpu_evidence"]

BATCH_BYTES = 48 * 1024
"""Most bytes of heartbeats in one batch request (the oracle takes 64 KiB bodies by default)."""

log = logging.getLogger("gpusettle.worker.heartbeat")


def gpu_evidence(slots: Sequence[int], real_gpus: bool) -> list[dict[str, Any]]:
    """NVML's UUID, utilisation (%) and memory used (MiB) of each of `slots`; [] without NVML or for
    development slots (no GPU evidence exists then)."""
    if not real_gpus:
        return []
    gpus, _why = probe_gpus()
    wanted = [g for g in gpus if g.index in slots]
    if not wanted:
        return []
    out: list[dict[str, Any]] = []
    try:
        nvml = _nvml()
    except Exception:  # noqa: BLE001 - no evidence is not an error
        return [{"uuid": g.uuid, "util": 0, "memUsedMb": 0} for g in wanted]
    try:
        for g in wanted:
            handle = nvml.nvmlDeviceGetHandleByIndex(g.index)
            # The evidence schema needs both readings; one NVML cannot give reads as 0.
            entry: dict[str, Any] = {"uuid": g.uuid, "util": 0, "memUsedMb": 0}
            try:
                entry["util"] = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                entry["memUsedMb"] = int(nvml.nvmlDeviceGetMemoryInfo(handle).used) >> 20
            except Exception:  # noqa: BLE001, S110 - a reading missing from the evidence
                pass
            out.append(entry)
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110
            pass
    return out


@dataclass(frozen=True)
class LeaseLiveness:
    """What a heartbeat says about one lease's service right now."""

    lease_id: int
    slots: list[int]
    pid: int | None
    alive: bool


def _chunks(rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """`rows` (body at index 3) cut into batches of at most MAX_HEARTBEAT_BATCH and BATCH_BYTES."""
    out: list[list[tuple[Any, ...]]] = []
    size = 0
    for row in rows:
        length = len(str(row[3])) + 1
        if not out or len(out[-1]) >= MAX_HEARTBEAT_BATCH or size + length > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append(row)
        size += length
    return out


@dataclass
class HeartbeatSender:
    """Signs one heartbeat per running lease and interval bucket, and delivers it to every oracle."""

    state: WorkerState
    private_key: bytes
    provider: str
    domain: Domain
    oracles: Sequence[str]
    live: Callable[[], list[LeaseLiveness]]
    """The leases to beat for now, with their services' state."""
    interval: int = 30
    real_gpus: bool = False
    transport: httpx.BaseTransport | None = None
    timeout: float = 10.0
    _http: httpx.Client | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError("the heartbeat interval is a whole number of seconds, at least 1")

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, transport=self.transport)
        return self._http

    def tick(self, now: float | None = None) -> bool:
        """Sign the heartbeats this bucket lacks, then send what is due; True when something moved."""
        signed = self.sign_due(int(time.time() if now is None else now))
        sent = self.send_due(time.time() if now is None else now)
        return bool(signed or sent)

    def sign_due(self, now: int) -> int:
        """Sign and store this bucket's heartbeat of each live lease not yet signed; how many."""
        sequence = now // self.interval
        count = 0
        for lease in self.live():
            evidence = HeartbeatEvidence.model_validate(
                {"gpus": gpu_evidence(lease.slots, self.real_gpus), "pid": lease.pid, "alive": lease.alive}
            )
            beat = Heartbeat(
                leaseId=lease.lease_id,
                provider=self.provider,
                timestamp=now,
                sequence=sequence,
                evidenceHash=evidence_hash(evidence),
                serviceUp=lease.alive,
            )
            body = json.dumps(
                {
                    **beat.model_dump(mode="json"),
                    "evidence": evidence.model_dump(mode="json"),
                    "signature": sign_heartbeat(beat, self.domain, self.private_key),
                },
                sort_keys=True,
                separators=(",", ":"),
            )
            conn = self.state.immediate()
            try:
                row = conn.execute(
                    "SELECT last_seq FROM leases WHERE lease_id = ?", (lease.lease_id,)
                ).fetchone()
                if row is None or int(row[0]) >= sequence:
                    conn.execute("ROLLBACK")  # this bucket is signed already (before a restart, say)
                    continue
                conn.executemany(
                    "INSERT OR IGNORE INTO heartbeat_outbox (lease_id, sequence, oracle, body) VALUES (?, ?, ?, ?)",
                    [(lease.lease_id, sequence, oracle, body) for oracle in self.oracles],
                )
                conn.execute("UPDATE leases SET last_seq = ? WHERE lease_id = ?", (sequence, lease.lease_id))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            count += 1
            log.debug("lease %d: heartbeat %d signed (service %s)", lease.lease_id, sequence, lease.alive)
        return count

    def send_due(self, now: float) -> int:
        """POST each unacknowledged heartbeat whose retry time has come, several to an oracle in one
        request (POST /v1/heartbeats/batch); how many were settled."""
        rows = self.state.execute(
            "SELECT lease_id, sequence, oracle, body, attempts FROM heartbeat_outbox "
            "WHERE done = 0 AND next_attempt_at <= ? ORDER BY sequence, lease_id",
            (now,),
        )
        by_oracle: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_oracle.setdefault(str(row[2]), []).append(row)
        settled = 0
        for oracle, due in by_oracle.items():
            for chunk in _chunks(due):
                try:
                    verdicts = self._deliver(oracle, [str(row[3]) for row in chunk])
                except Exception as exc:  # noqa: BLE001 - one oracle's odd answer must not stop the others'
                    log.warning("heartbeats to %s: %s: %s; retrying later", oracle, type(exc).__name__, exc)
                    verdicts = [None] * len(chunk)
                for (lease_id, sequence, _, _, attempts), verdict in zip(chunk, verdicts, strict=True):
                    key = (lease_id, sequence, oracle)
                    if verdict is None:
                        self.state.execute(
                            "UPDATE heartbeat_outbox SET attempts = attempts + 1, next_attempt_at = ? "
                            "WHERE lease_id = ? AND sequence = ? AND oracle = ?",
                            (now + backoff_delay(int(attempts)), *key),
                        )
                        continue
                    self.state.execute(
                        "UPDATE heartbeat_outbox SET done = ? WHERE lease_id = ? AND sequence = ? AND oracle = ?",
                        (verdict, *key),
                    )
                    settled += 1
        # Acknowledged heartbeats older than a day of buckets are of no more use.
        self.state.execute(
            "DELETE FROM heartbeat_outbox WHERE done != 0 AND sequence < ?",
            (int(now) // self.interval - 86_400 // self.interval,),
        )
        return settled

    def _deliver(self, oracle: str, bodies: list[str]) -> list[int | None]:
        """Each body's verdict (see `_post`): one request for a single heartbeat, a batch for several."""
        if len(bodies) == 1:
            return [self._post(oracle, bodies[0])]
        url = f"{oracle.rstrip('/')}/v1/heartbeats/batch"
        content = '{"heartbeats":[' + ",".join(bodies) + "]}"
        try:
            response = self._client().post(url, content=content, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            log.debug("heartbeat batch to %s failed: %s", oracle, exc)
            return [None] * len(bodies)
        code = response.status_code
        if code in (408, 429) or code >= 500:
            return [None] * len(bodies)
        results: Any = None
        if code == 200:
            try:
                doc = response.json()
            except ValueError:
                doc = None
            results = doc.get("results") if isinstance(doc, dict) else None
        if not isinstance(results, list) or len(results) != len(bodies):
            # An oracle without batches (404), or one that refused the batch as a whole: one at a time,
            # so that each heartbeat gets its own answer.
            return [self._post(oracle, body) for body in bodies]
        return [self._verdict(oracle, r.get("code"), r) if isinstance(r, dict) else None for r in results]

    def _verdict(self, oracle: str, code: Any, answer: Any) -> int | None:
        if not isinstance(code, int):
            return None
        if 200 <= code < 300:
            return 1
        if 400 <= code < 500 and code not in (408, 429):
            log.error("oracle %s refused a heartbeat: %d %s", oracle, code, str(answer)[:300])
            return 2
        return None

    def _post(self, oracle: str, body: str) -> int | None:
        """1: acknowledged; 2: refused for good (logged); None: try again later."""
        url = f"{oracle.rstrip('/')}/v1/heartbeats"
        try:
            response = self._client().post(url, content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            log.debug("heartbeat to %s failed: %s", oracle, exc)
            return None
        return self._verdict(oracle, response.status_code, response.text)
