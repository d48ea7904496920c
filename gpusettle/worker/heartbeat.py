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
from ..leases.models import Heartbeat, HeartbeatEvidence, evidence_hash
from .nvml import _nvml, probe_gpus
from .state import WorkerState
from .submit import backoff_delay

__all__ = ["HeartbeatSender", "LeaseLiveness", "gpu_evidence"]

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
        """POST each unacknowledged heartbeat whose retry time has come; how many were settled."""
        rows = self.state.execute(
            "SELECT lease_id, sequence, oracle, body, attempts FROM heartbeat_outbox "
            "WHERE done = 0 AND next_attempt_at <= ? ORDER BY sequence, lease_id",
            (now,),
        )
        settled = 0
        for lease_id, sequence, oracle, body, attempts in rows:
            verdict = self._post(str(oracle), str(body))
            key = (lease_id, sequence, oracle)
            if verdict is None:
                delay = backoff_delay(int(attempts))
                self.state.execute(
                    "UPDATE heartbeat_outbox SET attempts = attempts + 1, next_attempt_at = ? "
                    "WHERE lease_id = ? AND sequence = ? AND oracle = ?",
                    (now + delay, *key),
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

    def _post(self, oracle: str, body: str) -> int | None:
        """1: acknowledged; 2: refused for good (logged); None: try again later."""
        url = f"{oracle.rstrip('/')}/v1/heartbeats"
        try:
            response = self._client().post(url, content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            log.debug("heartbeat to %s failed: %s", oracle, exc)
            return None
        code = response.status_code
        if 200 <= code < 300:
            return 1
        if 400 <= code < 500 and code not in (408, 429):
            log.error("oracle %s refused a heartbeat: HTTP %d %s", oracle, code, response.text[:300])
            return 2
        return None
