"""A stand-in chain with a model LeaseEscrow, for checkpoint posting without the contract.

It takes signed transactions (as the real Chain's managed-sending methods do), mines the best-paying
one per nonce when told, can reorganise blocks away, and applies submitCheckpoints with the rules of
the lease interface: a checkpoint pays only when fromTime is the lease's paidThrough (else
CheckpointSkipped), toTime <= block time, up + down == period, and each (lease, from) pays once.
Once the real LeaseEscrow exists the same tests can run against anvil.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gpusettle.chain.tx import Finality, FinalityState, SignedTx
from gpusettle.hashing import keccak256
from gpusettle.leases.models import LeaseTerms
from gpusettle.oracle.leaseview import StaticLeaseView

ESCROW_ADDRESS = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


@dataclass
class _Event:
    name: str

    def __call__(self) -> _Event:
        return self

    def process_log(self, entry: dict[str, Any]) -> dict[str, Any]:
        if entry.get("event") != self.name:
            raise ValueError("another event")
        return {"args": entry["args"]}


class _Events:
    CheckpointSettled = _Event("CheckpointSettled")
    CheckpointSkipped = _Event("CheckpointSkipped")


class FakeLeaseContract:
    """encode_abi / address / events of LeaseEscrow: calldata is JSON here."""

    address = ESCROW_ADDRESS
    events = _Events()

    def encode_abi(self, name: str, args: list[Any]) -> str:
        checkpoints, signatures = args
        return json.dumps(
            {
                "fn": name,
                "checkpoints": [[*c[:5], "0x" + c[5].hex()] for c in checkpoints],
                "signatures": len(signatures),
            }
        )


@dataclass
class FakeLeaseChain:
    leases: StaticLeaseView
    now: int
    blocks: list[dict[str, Any]] = field(default_factory=list)
    """Mined blocks: {"number", "hash", "txs": [(tx hash, receipt)]}."""
    pool: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Broadcast, unmined transactions by hash."""
    signed: dict[str, dict[str, Any]] = field(default_factory=dict)
    paid: dict[tuple[int, int], int] = field(default_factory=dict)
    """(lease, from) -> how many times it was paid (must never exceed 1)."""
    broadcasts: int = 0
    refuse_gas: Exception | None = None

    # -- what CheckpointPoster calls -------------------------------------------------------------------

    def mined_nonce(self, address: str) -> int:
        return sum(1 for b in self.blocks for _ in b["txs"])

    def block_number(self) -> int:
        return len(self.blocks)

    def eip1559_fees(self, policy: Any) -> tuple[int, int]:
        return 10, 1

    def replacement_fees(self, last_max_fee: int, last_tip: int, policy: Any) -> tuple[int, int] | None:
        return last_max_fee * 12 // 10 + 1, last_tip * 12 // 10 + 1

    def sign_eip1559(
        self, account: Any, *, to: str, data: str, gas: int, nonce: int, max_fee: int, tip: int
    ) -> SignedTx:
        raw = json.dumps({"nonce": nonce, "data": data, "max_fee": max_fee, "tip": tip}).encode()
        tx_hash = "0x" + keccak256(raw).hex()
        self.signed[tx_hash] = {"nonce": nonce, "data": data, "max_fee": max_fee, "raw": raw}
        return SignedTx(tx_hash, nonce, raw, max_fee, tip)

    def resign(self, account: Any, raw: bytes, max_fee: int, tip: int) -> SignedTx:
        doc = json.loads(raw)
        return self.sign_eip1559(
            account, to="", data=doc["data"], gas=0, nonce=doc["nonce"], max_fee=max_fee, tip=tip
        )

    def broadcast(self, raw: bytes) -> str | None:
        self.broadcasts += 1
        tx_hash = "0x" + keccak256(raw).hex()
        self.pool[tx_hash] = json.loads(raw)
        return None

    def estimate_gas_now(self, tx: dict[str, Any], not_before: int) -> int:
        if self.refuse_gas is not None:
            raise self.refuse_gas
        return 100_000

    def finality(self, tx_hashes: list[str], confirmations: int, latest: int | None = None) -> Finality:
        for block in self.blocks:
            for tx_hash, receipt in block["txs"]:
                if tx_hash in tx_hashes:
                    deep = len(self.blocks) - block["number"] + 1 >= confirmations
                    state = FinalityState.FINAL if deep else FinalityState.MINED
                    return Finality(state, tx_hash, receipt, block["number"], block["hash"])
        return Finality(FinalityState.UNKNOWN)

    # -- what the tests drive --------------------------------------------------------------------------

    def mine(self, empty: int = 0) -> int:
        """Mine the next nonce's best-paying pending transaction (if any), then `empty` empty blocks."""
        mined = 0
        nonce = self.mined_nonce("")
        candidates = [(h, d) for h, d in self.pool.items() if d["nonce"] == nonce]
        if candidates:
            tx_hash, doc = max(candidates, key=lambda c: c[1]["max_fee"])
            for h in [h for h, d in self.pool.items() if d["nonce"] == nonce]:
                del self.pool[h]
            self._block([(tx_hash, self._apply(doc))])
            mined = 1
        for _ in range(empty):
            self._block([])
        return mined

    def _block(self, txs: list[tuple[str, dict[str, Any]]]) -> None:
        number = len(self.blocks) + 1
        block_hash = "0x" + keccak256(f"{number}-{len(self.pool)}-{txs}".encode()).hex()
        for _, receipt in txs:
            receipt["blockNumber"] = number
        self.blocks.append({"number": number, "hash": block_hash, "txs": txs})

    def reorg(self, depth: int) -> None:
        """Remove the last `depth` blocks; their transactions (and their effects) are undone."""
        for block in self.blocks[-depth:]:
            for tx_hash, receipt in block["txs"]:
                for entry in receipt["logs"]:
                    if entry["event"] == "CheckpointSettled":
                        key = (entry["args"]["leaseId"], entry["args"]["fromTime"])
                        self.paid[key] -= 1
                        lease = self.leases.lease_table[key[0]]
                        self.leases.lease_table[key[0]] = lease.model_copy(update={"paidThrough": key[1]})
        del self.blocks[-depth:]

    def _apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        call = json.loads(doc["data"])
        logs = []
        for lease_id, start, end, up, down, _root in call["checkpoints"]:
            lease: LeaseTerms | None = self.leases.lease_table.get(lease_id)
            assert up + down == end - start and end <= self.now
            if lease is None or lease.status != 2 or start != (lease.paidThrough or lease.startedAt):
                reason = 0 if lease is None or lease.status != 2 else 1  # NotRunning, NotContiguous
                logs.append(
                    self._log("CheckpointSkipped", {"leaseId": lease_id, "fromTime": start, "reason": reason})
                )
                continue
            self.paid[(lease_id, start)] = self.paid.get((lease_id, start), 0) + 1
            final = lease.billing_end() and end == lease.billing_end()
            self.leases.lease_table[lease_id] = lease.model_copy(
                update={"paidThrough": end, "status": 3 if final else 2}
            )
            logs.append(
                self._log("CheckpointSettled", {"leaseId": lease_id, "fromTime": start, "toTime": end})
            )
        return {"status": 1, "gasUsed": 30_000 * len(call["checkpoints"]), "logs": logs}

    @staticmethod
    def _log(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"address": ESCROW_ADDRESS, "event": name, "args": args}
