"""Lease heartbeats: every interval, per running lease, a LeaseHeartbeat signed by the worker key and
sent to each oracle, which counts the interval "up" when the service was alive.

The typed data is the lease interface's (EIP-712, domain "gpusettle LeaseEscrow" version 1):
`LeaseHeartbeat(uint256 leaseId,address provider,uint64 timestamp,uint64 sequence,bytes32 evidenceHash,
bool serviceUp)`, sequence = timestamp // interval, evidenceHash = keccak256 of the canonical JSON
(sorted keys, no spaces) of `{"gpus":[{"uuid","util","memUsedMb"}], "pid", "alive"}`.

This is the worker's own thin copy of the digest until the shared `gpusettle/leases/eip712.py`
(the oracle's) is merged; the tests check it against eth-account's generic encoder.

Exactly once per bucket: the heartbeat of a (lease, sequence) is signed once, stored in the outbox
with the lease's last signed sequence in one transaction, then sent until each oracle acknowledges
it. A restarted worker re-sends the same document for a bucket it already signed and signs nothing
twice, and the oracle keeps one heartbeat per (lease, sequence) besides.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..eip712 import Domain, from_compact, sign_digest
from ..hashing import keccak256
from .nvml import _nvml, probe_gpus
from .state import WorkerState
from .submit import backoff_delay

__all__ = [
    "HEARTBEAT_TYPE",
    "HEARTBEAT_TYPEHASH",
    "LEASE_DOMAIN_NAME",
    "HeartbeatSender",
    "LeaseLiveness",
    "canonical_json",
    "evidence_hash",
    "gpu_evidence",
    "heartbeat_digest",
    "heartbeat_struct_hash",
    "heartbeat_typed_data",
    "lease_domain",
]

log = logging.getLogger("gpusettle.worker.heartbeat")

LEASE_DOMAIN_NAME = "gpusettle LeaseEscrow"
HEARTBEAT_TYPE = (
    "LeaseHeartbeat(uint256 leaseId,address provider,uint64 timestamp,uint64 sequence,bytes32 evidenceHash,"
    "bool serviceUp)"
)
HEARTBEAT_TYPEHASH = keccak256(HEARTBEAT_TYPE.encode())


def lease_domain(chain_id: int, lease_escrow: str) -> Domain:
    """The EIP-712 domain of one LeaseEscrow deployment."""
    return Domain(chain_id, lease_escrow, name=LEASE_DOMAIN_NAME)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, non-ASCII escaped (as the oracle's HeartbeatEvidence.canonical_json)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def evidence_hash(evidence: Mapping[str, Any]) -> bytes:
    """keccak256 of the evidence's canonical JSON."""
    return keccak256(canonical_json(evidence))


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def heartbeat_struct_hash(
    lease_id: int, provider: str, timestamp: int, sequence: int, evidence: bytes, service_up: bool
) -> bytes:
    """hashStruct(LeaseHeartbeat)."""
    if len(evidence) != 32:
        raise ValueError("evidenceHash must be 32 bytes")
    return keccak256(
        HEARTBEAT_TYPEHASH
        + _word(lease_id)
        + bytes(12)
        + bytes.fromhex(provider.removeprefix("0x"))
        + _word(timestamp)
        + _word(sequence)
        + evidence
        + _word(int(service_up))
    )


def heartbeat_digest(
    domain: Domain,
    lease_id: int,
    provider: str,
    timestamp: int,
    sequence: int,
    evidence: bytes,
    service_up: bool,
) -> bytes:
    """The digest the worker key signs."""
    struct = heartbeat_struct_hash(lease_id, provider, timestamp, sequence, evidence, service_up)
    return keccak256(b"\x19\x01" + domain.separator() + struct)


def heartbeat_typed_data(
    domain: Domain,
    lease_id: int,
    provider: str,
    timestamp: int,
    sequence: int,
    evidence: bytes,
    service_up: bool,
) -> dict[str, Any]:
    """The same heartbeat as generic EIP-712 typed data (wallets, eth-account, the tests)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "LeaseHeartbeat": [
                {"name": "leaseId", "type": "uint256"},
                {"name": "provider", "type": "address"},
                {"name": "timestamp", "type": "uint64"},
                {"name": "sequence", "type": "uint64"},
                {"name": "evidenceHash", "type": "bytes32"},
                {"name": "serviceUp", "type": "bool"},
            ],
        },
        "primaryType": "LeaseHeartbeat",
        "domain": domain.as_dict(),
        "message": {
            "leaseId": lease_id,
            "provider": provider,
            "timestamp": timestamp,
            "sequence": sequence,
            "evidenceHash": evidence,
            "serviceUp": service_up,
        },
    }


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
            evidence = {
                "gpus": gpu_evidence(lease.slots, self.real_gpus),
                "pid": lease.pid,
                "alive": lease.alive,
            }
            digest_of_evidence = evidence_hash(evidence)
            digest = heartbeat_digest(
                self.domain, lease.lease_id, self.provider, now, sequence, digest_of_evidence, lease.alive
            )
            signature = from_compact(sign_digest(digest, self.private_key))
            body = canonical_json(
                {
                    "leaseId": lease.lease_id,
                    "provider": self.provider,
                    "timestamp": now,
                    "sequence": sequence,
                    "evidenceHash": "0x" + digest_of_evidence.hex(),
                    "serviceUp": lease.alive,
                    "evidence": evidence,
                    "signature": "0x" + signature.hex(),
                }
            ).decode()
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
