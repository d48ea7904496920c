"""Decoding the contracts' raw logs: the one module to change when the events change.

Built from the ABIs, so a new field in an event only needs the handler in `apply` that uses it. Values
come out as Python ints, lowercase hex addresses (checksummed only when shown) and 0x-hex bytes.
Static-typed events are decoded by slicing 32-byte words, which is several times faster than eth_abi at
catch-up rates; events with strings or arrays go through eth_abi.

What today's events lack, and where `apply` takes it from instead (no eth_call per event):
- JobCreated: gpuCount (the offer's, from the index's offer row at that point of the chain) and deposit
  (pricePerGpuSecond x maxGpuSeconds).
- JobSettled, JobTimedOut, JobCancelled, DisputeResolved, FraudReported: the provider and the offer (from
  the job row).
- OfferUpdated: the provider (from OfferAdded).
- UnstakeRequested and Withdrawn: the bonded / unbonding amounts after the call; Slashed: which part of
  the stake it took (mirrored from ProviderStaking.slash: bonded first, then unbonding).
- Collateral release at settlement, cancellation or timeout (from the job row).
- Block times: the log's `blockTimestamp` where the node sends it, else one eth_getBlockByNumber per block.
- Gas of a settlement: one eth_getTransactionReceipt per settlement transaction (batch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from eth_abi.abi import decode as abi_decode

from ..chain.abi import load_artifact, load_artifacts
from ..hashing import keccak256

__all__ = ["CONTRACTS", "LEASE_RECORD_KEYS", "Decoder", "IndexedEvent", "decoder", "followed"]

CONTRACTS: dict[str, str] = {
    "staking": "ProviderStaking",
    "escrow": "JobEscrow",
    "leases": "LeaseEscrow",
    "hardware": "HardwareRegistry",
}
"""Index key -> contract whose events the index follows (LeaseEscrow and HardwareRegistry when deployed)."""

HARDWARE_RECORD_KEY = "hardwareRegistry"
"""The deployment record's key of the HardwareRegistry (gpusettle.chain.client.contract_key)."""

LEASE_RECORD_KEYS: tuple[str, ...] = ("leases", "lease_escrow", "leaseEscrow", "LeaseEscrow")
"""Keys a deployment record may hold the LeaseEscrow address under (chain.leases uses the same)."""


def followed(addresses: Mapping[str, str]) -> dict[str, str]:
    """The record's addresses under the index's keys (staking, escrow, leases, hardware) for the contracts it
    follows."""
    out = {k: a for k, a in addresses.items() if k in CONTRACTS and k not in ("leases", "hardware")}
    if HARDWARE_RECORD_KEY in addresses:
        out["hardware"] = addresses[HARDWARE_RECORD_KEY]
    lease = next((addresses[k] for k in LEASE_RECORD_KEYS if k in addresses), None)
    if lease is not None:
        out["leases"] = lease
    return out


_STATIC = ("uint", "int", "address", "bool", "bytes32")


@dataclass(frozen=True, slots=True)
class IndexedEvent:
    """One decoded log."""

    contract: str
    name: str
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str
    args: dict[str, Any]
    time: int | None = None
    """Block time when the node puts it in the log (`blockTimestamp`); else the follower reads the block."""


# A C-level call per word (no Python frame): catch-up decodes a few words per event, 100,000s of them.
_hex_int: Callable[[str], int] = partial(int, base=16)


def _signed(word: str) -> int:
    v = int(word, 16)
    return v - (1 << 256) if v >> 255 else v


def _address(word: str) -> str:
    return "0x" + word[-40:]


def _bool(word: str) -> bool:
    return int(word, 16) != 0


def _bytes(word: str) -> str:
    return "0x" + word


def _word_decoder(kind: str) -> Callable[[str], Any]:
    """The converter of one 32-byte word of type `kind` (chosen once per event, not per log)."""
    if kind == "address":
        return _address
    if kind == "bool":
        return _bool
    if kind.startswith("bytes"):
        return _bytes
    if kind.startswith("int"):
        return _signed
    return _hex_int


def _text(raw: bytes) -> str:
    """An on-chain string as text: invalid UTF-8 replaced (U+FFFD), NUL dropped (PostgreSQL text refuses it)."""
    return raw.decode("utf-8", "replace").replace("\x00", "")


def _convert(kind: str, value: Any) -> Any:
    if kind == "string":
        return _text(bytes(value))
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if kind == "address":
        return str(value).lower()
    if kind.endswith("[]"):
        return [_convert(kind[:-2], v) for v in value]
    return value


def _event_decoder(inputs: list[dict[str, Any]]) -> Callable[[list[str], str], dict[str, Any]]:
    indexed = [(i["name"], _word_decoder(i["type"])) for i in inputs if i.get("indexed")]
    plain = [(i["name"], i["type"]) for i in inputs if not i.get("indexed")]
    static = all(t.startswith(_STATIC) and not t.endswith("]") for _, t in plain)
    # Strings are decoded as bytes, then read leniently (_text): a Solidity string is any bytes, and a provider's
    # offer with invalid UTF-8 or a NUL made eth_abi (or PostgreSQL) refuse the event and halted every index.
    plain_types = ["bytes" if t == "string" else t for _, t in plain]
    # (name, converter, start, end) of each data word, for the static layout.
    words = [(name, _word_decoder(kind), 2 + 64 * n, 66 + 64 * n) for n, (name, kind) in enumerate(plain)]

    def decode(topics: list[str], data: str) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for (name, convert), topic in zip(indexed, topics[1:], strict=True):
            args[name] = convert(topic[2:])
        if static:
            for name, convert, start, end in words:
                args[name] = convert(data[start:end])
        else:
            body = data[2:]
            values = abi_decode(plain_types, bytes.fromhex(body))
            for (name, kind), value in zip(plain, values, strict=True):
                args[name] = _convert(kind, value)
        return args

    return decode


class Decoder:
    """topic0 -> (contract, event name, decoder) for the followed contracts."""

    def __init__(self, abis: Mapping[str, list[dict[str, Any]]]) -> None:
        # Keyed by (topic0, contract): two contracts may emit the same signature (both escrows'
        # EarningsWithdrawn, both contracts' governance events), and each must keep its own.
        self.table: dict[tuple[str, str], tuple[str, str, Callable[[list[str], str], dict[str, Any]]]] = {}
        for contract, abi in abis.items():
            for item in abi:
                if item.get("type") != "event":
                    continue
                signature = f"{item['name']}({','.join(_canonical(i) for i in item['inputs'])})"
                topic = "0x" + keccak256(signature.encode()).hex()
                self.table[(topic, contract)] = (contract, item["name"], _event_decoder(item["inputs"]))

    def decode(self, logs: Iterable[Mapping[str, Any]], contract_of: Mapping[str, str]) -> list[IndexedEvent]:
        """Decode raw eth_getLogs entries; logs of unknown events or addresses are skipped."""
        out: list[IndexedEvent] = []
        for raw in logs:
            if raw.get("removed"):
                continue
            topics = raw["topics"]
            if not topics:
                continue
            contract = contract_of.get(str(raw["address"]).lower())
            if contract is None:
                continue
            found = self.table.get((topics[0], contract))
            if found is None:
                continue
            out.append(
                IndexedEvent(
                    contract,
                    found[1],
                    int(raw["blockNumber"], 16),
                    str(raw["blockHash"]),
                    int(raw["logIndex"], 16),
                    str(raw["transactionHash"]),
                    found[2](topics, raw["data"]),
                    int(stamp, 16) if (stamp := raw.get("blockTimestamp")) else None,
                )
            )
        return out

    def topics(self) -> list[str]:
        """Every topic0 this decoder knows (for the eth_getLogs filter)."""
        return list(dict.fromkeys(topic for topic, _contract in self.table))


def _canonical(item: Mapping[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical(c) for c in item["components"])
        return f"({inner}){kind[5:]}"
    return kind


@lru_cache(maxsize=1)
def decoder() -> Decoder:
    """The decoder for the ProviderStaking, JobEscrow and (when compiled) LeaseEscrow ABIs."""
    from ..errors import ConfigError

    artifacts = load_artifacts()
    abis = {key: artifacts[name].abi for key, name in CONTRACTS.items() if name in artifacts}
    if "hardware" not in abis:
        try:
            abis["hardware"] = load_artifact("HardwareRegistry").abi
        except ConfigError:
            pass  # a deployment without the registry: its events are never asked for
    if "leases" not in abis:
        try:
            abis["leases"] = load_artifact("LeaseEscrow").abi
        except ConfigError:
            pass  # a deployment without leases: their events are never asked for
    return Decoder(abis)
