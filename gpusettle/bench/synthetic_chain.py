"""A chain of synthetic but exactly encoded contract logs, served in memory (a LogSource), so the
index's own speed can be measured at sizes a local node takes too long to produce."""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator, Sequence
from typing import Any

from eth_abi.abi import encode

from ..chain.abi import load_artifacts
from ..hashing import keccak256
from ..index.events import CONTRACTS

__all__ = ["SyntheticChain", "market_events"]

STAKING = "0x" + "51" * 20
ESCROW = "0x" + "e5" * 20
ADDRESSES = {"staking": STAKING, "escrow": ESCROW}

MODELS = (
    ("NVIDIA H100 80GB HBM3", 80),
    ("NVIDIA H200", 141),
    ("NVIDIA A100-SXM4-80GB", 80),
    ("NVIDIA A100-PCIE-40GB", 40),
    ("NVIDIA L40S", 48),
    ("NVIDIA GeForce RTX 4090", 24),
    ("NVIDIA L4", 24),
)


class _Encoder:
    def __init__(self) -> None:
        artifacts = load_artifacts()
        self.events: dict[str, tuple[str, str, list[dict[str, Any]]]] = {}
        for key, name in CONTRACTS.items():
            # The synthetic chain has jobs only: an event name LeaseEscrow shares stays JobEscrow's.
            for item in artifacts[name].abi if name in artifacts else ():
                if item.get("type") == "event" and not (key == "leases" and item["name"] in self.events):
                    sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                    self.events[item["name"]] = (key, "0x" + keccak256(sig.encode()).hex(), item["inputs"])

    def log(self, name: str, args: dict[str, Any]) -> tuple[str, list[str], str]:
        contract, topic0, inputs = self.events[name]
        topics = [topic0] + ["0x" + _word(i["type"], args[i["name"]]) for i in inputs if i.get("indexed")]
        plain = [i for i in inputs if not i.get("indexed")]
        if all(i["type"] in _STATIC for i in plain):
            data = "0x" + "".join(_word(i["type"], args[i["name"]]) for i in plain)
        else:
            data = "0x" + encode([i["type"] for i in plain], [args[i["name"]] for i in plain]).hex()
        return ADDRESSES[contract], topics, data


_STATIC = {"uint256", "uint64", "uint32", "uint8", "address", "bytes32", "bool"}


def _word(kind: str, value: Any) -> str:
    """One ABI word as 64 hex digits (what eth_abi produces for these static types)."""
    if kind == "address":
        return str(value)[2:].lower().rjust(64, "0")
    if kind == "bytes32":
        return bytes(value).hex()
    return f"{int(value):064x}"


def market_events(offers: int, jobs: int, seed: int = 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """A market's history: providers stake and publish `offers` offers; `jobs` jobs open, two thirds are
    accepted and half of those settle."""
    rng = random.Random(seed)
    providers = [f"0x{rng.getrandbits(160):040x}" for _ in range(max(1, offers // 5))]
    for i, p in enumerate(providers):
        yield "Staked", {"provider": p, "amount": 10**22, "bonded": 10**22 + i}
        yield (
            "WorkerSet",
            {"provider": p, "previous": "0x" + "00" * 20, "worker": f"0x{rng.getrandbits(160):040x}"},
        )
    owner = {}
    price = {}
    gpus = {}
    for offer_id in range(1, offers + 1):
        p = providers[(offer_id - 1) % len(providers)]
        model, vram = MODELS[rng.randrange(len(MODELS))]
        owner[offer_id], price[offer_id], gpus[offer_id] = (
            p,
            rng.randrange(10**13, 2 * 10**15),
            rng.choice((1, 2, 4, 8)),
        )
        yield (
            "OfferAdded",
            {
                "offerId": offer_id,
                "provider": p,
                "gpuModel": model,
                "gpuCount": gpus[offer_id],
                "vramGb": vram,
                "pricePerGpuSecond": price[offer_id],
                "metadataURI": f"https://p{offer_id}.example/m.json",
            },
        )
    client = f"0x{rng.getrandbits(160):040x}"
    for job_id in range(1, jobs + 1):
        offer_id = rng.randrange(1, offers + 1)
        yield (
            "JobCreated",
            {
                "jobId": job_id,
                "client": client,
                "provider": owner[offer_id],
                "offerId": offer_id,
                "gpuCount": gpus[offer_id],
                "pricePerGpuSecond": price[offer_id],
                "maxGpuSeconds": 3600,
                "deposit": price[offer_id] * 3600,
                "deadline": 1_900_000_000,
                "acceptBy": 1_890_000_000,
                "specHash": b"\x01" * 32,
                "collateral": price[offer_id] * 720,
            },
        )
        if job_id % 3:
            yield (
                "JobAccepted",
                {"jobId": job_id, "provider": owner[offer_id], "acceptedAt": 1_800_000_000 + job_id},
            )
            if job_id % 2:
                g = rng.randrange(1, 3600)
                yield (
                    "JobSettled",
                    {
                        "jobId": job_id,
                        "gpuSeconds": g,
                        "payout": g * price[offer_id] * 975 // 1000,
                        "fee": g * price[offer_id] * 25 // 1000,
                        "outcome": 0 if rng.random() < 0.9 else 2,
                        "reserve": price[offer_id] * 720,
                    },
                )


class SyntheticChain:
    """LogSource over pre-encoded logs, `per_block` logs per block, one block every 2 s."""

    def __init__(
        self, events: Iterator[tuple[str, dict[str, Any]]], per_block: int = 10, start_block: int = 1
    ) -> None:
        enc = _Encoder()
        self.start_block = start_block
        self.logs_by_block: list[list[dict[str, Any]]] = []
        current: list[dict[str, Any]] = []
        for name, args in events:
            address, topics, data = enc.log(name, args)
            number = start_block + len(self.logs_by_block)
            current.append(
                {
                    "address": address,
                    "topics": topics,
                    "data": data,
                    "blockNumber": hex(number),
                    "blockHash": self._hash(number),
                    "blockTimestamp": hex(1_800_000_000 + 2 * number),
                    "logIndex": hex(len(current)),
                    "transactionHash": "0x" + keccak256(f"{number}:{len(current)}".encode()).hex(),
                    "removed": False,
                }
            )
            if len(current) == per_block:
                self.logs_by_block.append(current)
                current = []
        if current:
            self.logs_by_block.append(current)
        self.count = sum(len(b) for b in self.logs_by_block)
        self._numbers = list(range(start_block, start_block + len(self.logs_by_block)))

    @staticmethod
    def _hash(number: int) -> str:
        return "0x" + keccak256(number.to_bytes(8, "big")).hex()

    def head(self) -> int:
        return self.start_block + len(self.logs_by_block) - 1

    def block(self, number: int) -> tuple[str, int] | None:
        if number > self.head():
            return None
        return self._hash(number), 1_800_000_000 + 2 * number

    def gas_used(self, tx_hash: str) -> int | None:
        return 60_000

    def logs(
        self, addresses: Sequence[str], topics: Sequence[Any] | None, start: int, end: int
    ) -> list[dict[str, Any]]:
        lo = bisect.bisect_left(self._numbers, start)
        hi = bisect.bisect_right(self._numbers, end)
        out: list[dict[str, Any]] = []
        for block in self.logs_by_block[lo:hi]:
            out.extend(block)
        return out
