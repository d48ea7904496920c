"""An in-memory LogSource whose blocks can be replaced (a reorg), for the attack tests (no node)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpusettle.bench.synthetic_chain import ADDRESSES, _Encoder
from gpusettle.hashing import keccak256

ENC = _Encoder()


class MemChain:
    """Blocks 1..head: each (hash, time, [(event name, args)]). Logs carry no blockTimestamp unless `stamps`."""

    def __init__(self, stamps: bool = False) -> None:
        self.blocks: list[tuple[str, int, list[tuple[str, dict[str, Any]]]]] = []
        self.stamps = stamps
        self.fork = 0
        self.receipts = 0

    def add(self, time: int, *events: tuple[str, dict[str, Any]]) -> int:
        number = len(self.blocks) + 1
        h = "0x" + keccak256(f"{self.fork}:{number}".encode()).hex()
        self.blocks.append((h, time, list(events)))
        return number

    def reorg(self, keep: int) -> None:
        """Drop blocks after `keep`; blocks added next are on a new branch (new hashes)."""
        del self.blocks[keep:]
        self.fork += 1

    def head(self) -> int:
        return len(self.blocks)

    def block(self, number: int) -> tuple[str, int] | None:
        if not 1 <= number <= len(self.blocks):
            return None
        h, t, _ = self.blocks[number - 1]
        return h, t

    def gas_used(self, tx_hash: str) -> int | None:
        self.receipts += 1
        return 50_000

    def raw(self, number: int) -> list[dict[str, Any]]:
        h, t, events = self.blocks[number - 1]
        out = []
        for i, (name, args) in enumerate(events):
            address, topics, data = ENC.log(name, args)
            entry = {
                "address": address,
                "topics": topics,
                "data": data,
                "blockNumber": hex(number),
                "blockHash": h,
                "logIndex": hex(i),
                "transactionHash": "0x" + keccak256(f"{h}:{i}".encode()).hex(),
                "removed": False,
            }
            if self.stamps:
                entry["blockTimestamp"] = hex(t)
            out.append(entry)
        return out

    def logs(self, addresses: Sequence[str], topics: Sequence[Any] | None, start: int, end: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for n in range(max(1, start), min(end, self.head()) + 1):
            out.extend(self.raw(n))
        return out


PROVIDER = "0x" + "ab" * 20
CLIENT = "0x" + "cd" * 20
PRICE = 10**12


def offer_added(offer_id: int = 1) -> tuple[str, dict[str, Any]]:
    return "OfferAdded", {
        "offerId": offer_id, "provider": PROVIDER, "gpuModel": "NVIDIA H100 80GB HBM3", "gpuCount": 4,
        "vramGb": 80, "pricePerGpuSecond": PRICE, "metadataURI": "https://m.example/1.json",
    }  # fmt: skip


def staked() -> tuple[str, dict[str, Any]]:
    return "Staked", {"provider": PROVIDER, "amount": 10**22, "bonded": 10**22}


def job_created(job_id: int, offer_id: int = 1) -> tuple[str, dict[str, Any]]:
    return "JobCreated", {
        "jobId": job_id, "client": CLIENT, "provider": PROVIDER, "offerId": offer_id, "gpuCount": 4,
        "pricePerGpuSecond": PRICE, "maxGpuSeconds": 3600, "deposit": PRICE * 3600, "deadline": 1_900_000_000,
        "acceptBy": 1_890_000_000, "specHash": b"\x01" * 32, "collateral": PRICE * 720,
    }  # fmt: skip


def job_accepted(job_id: int) -> tuple[str, dict[str, Any]]:
    return "JobAccepted", {"jobId": job_id, "provider": PROVIDER, "acceptedAt": 1_800_000_000}


def job_settled(job_id: int, gpu_seconds: int = 1000) -> tuple[str, dict[str, Any]]:
    return "JobSettled", {
        "jobId": job_id, "gpuSeconds": gpu_seconds, "payout": gpu_seconds * PRICE * 975 // 1000,
        "fee": gpu_seconds * PRICE * 25 // 1000, "outcome": 0, "reserve": PRICE * 720,
    }  # fmt: skip


__all__ = ["ADDRESSES", "CLIENT", "PRICE", "PROVIDER", "MemChain"]
