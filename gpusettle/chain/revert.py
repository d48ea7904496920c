"""Turn revert data into readable `ContractError`s, from the custom errors declared in the ABIs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from ..errors import ContractError
from ..hashing import checksum_address, keccak256
from ..models import JobStatus
from ..units import format_units

__all__ = [
    "JOB_STATUS_NAMES",
    "PANIC_REASONS",
    "DecodedContractError",
    "ErrorDecoder",
    "ErrorSpec",
    "extract_revert_data",
]

JOB_STATUS_NAMES: tuple[str, ...] = tuple(s.value for s in JobStatus)
"""IJobEscrow.JobStatus by value."""

PANIC_REASONS: dict[int, str] = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}

_ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
_PANIC_SELECTOR = bytes.fromhex("4e487b71")

# Errors whose arguments are token amounts: (argument names) rendered in whole tokens too.
_AMOUNT_ARGS = {
    "balance",
    "needed",
    "allowance",
    "free",
    "need",
    "requested",
    "bonded",
    "minimum",
}

_EXTRA_HINTS: dict[str, str] = {
    "Unauthorized": "send the transaction from the account that holds this role",
    "ZeroAddress": "pass a non-zero address",
    "EnforcedPause": "the escrow is paused by the guardian; new jobs are refused until it is unpaused",
    "ExpectedPause": "the escrow is not paused",
    "JobEscrowProviderJailed": "pick another provider's offer; this one is jailed",
    "JobEscrowUnknownRole": "roles are 0 treasury, 1 guardian, 2 arbiter",
    "ERC20InsufficientBalance": "the sender holds fewer tokens than the transfer needs; get more tokens first",
    "ERC20InsufficientAllowance": "approve the spender for at least the amount (or use --permit)",
    "ERC2612ExpiredSignature": "the permit expired; sign a new one",
    "ERC2612InvalidSigner": "the permit was signed by another key than the owner's",
    "ERC20InvalidReceiver": "pass a non-zero recipient",
    "ERC20InvalidSender": "pass a non-zero sender",
    "ERC20InvalidSpender": "pass a non-zero spender",
    "ERC20InvalidApprover": "pass a non-zero owner",
    "ReentrancyGuardReentrantCall": "a contract tried to re-enter the call; do not call back into gpusettle",
    "SafeERC20FailedOperation": "the token transfer failed",
    "ProviderStakingDisputeWindowOpen": "a job you settled can still be disputed; withdraw after the window closes",
    "ComputeTokenInvalidGenesis": "mint a non-zero supply to a non-zero recipient",
    "ProviderStakingCapacityExceeded": "the offer's GPUs are held by other jobs or leases; ask for fewer, or "
    "pick an offer with GPUs free (`gpusettle market offers --free N`)",
    "ProviderStakingOfferPaused": "the provider paused this offer for now; pick another offer",
    "ProviderStakingOfferNotPaused": "the offer is not paused",
    "ProviderStakingInvalidAvailability": "reclaimable needs a notice; interruptible has no notice and no guarantee; "
    "the guarantee is 0-10000 basis points",
    "LeaseEscrowOfferNoLongerFits": "the offer changed since you read it: read it again (`gpusettle offer list`)",
    "LeaseEscrowClassNotAccepted": "accept a worse class (`--class`), a shorter notice (`--min-notice`), or pick "
    "another offer",
    "LeaseEscrowBillingEnded": "billing of this lease has ended; open a new lease",
    "LeaseEscrowNotReclaimable": "only reclaimable and interruptible leases can be reclaimed",
    "LeaseEscrowNotClient": "send it from the account that opened the lease",
    "LeaseEscrowNotProviderOrWorker": "send it from the provider's staking wallet or its worker key",
    "LeaseEscrowInsufficientFreeStake": "the provider's free stake cannot back this lease's collateral; pick "
    "another offer, or (as the provider) stake more",
    # The provider's collateral commands (`gpusettle provider worker-budget`, `release-collateral`).
    "JobEscrowWorkerBudgetExceeded": "the worker key used its daily collateral budget: accept from the staking "
    "wallet, raise it (`gpusettle provider worker-budget --set AMOUNT`), or wait for the day to reset",
    "JobEscrowReserveStillNeeded": "the job can still be disputed: release its collateral after its dispute window "
    "closes (`gpusettle provider release-collateral`)",
}


class DecodedContractError(ContractError):
    """A ContractError decoded from revert data: `error_args` are rendered for people (named, enums by
    name, amounts in whole tokens), `raw_args` are the decoded ABI values; `tx_hash` is set when a mined
    transaction reverted."""

    def __init__(
        self,
        name: str,
        error_args: Sequence[Any] = (),
        hint: str | None = None,
        *,
        raw_args: Sequence[Any] = (),
        tx_hash: str | None = None,
    ) -> None:
        super().__init__(name, error_args, hint)
        self.raw_args: tuple[Any, ...] = tuple(raw_args)
        self.tx_hash = tx_hash


@dataclass(frozen=True)
class ErrorSpec:
    """One custom error from an ABI."""

    name: str
    types: tuple[str, ...]
    arg_names: tuple[str, ...]
    internal_types: tuple[str, ...]

    @property
    def signature(self) -> str:
        """`Name(type,type)`, as hashed for the selector."""
        return f"{self.name}({','.join(self.types)})"

    @property
    def selector(self) -> bytes:
        """The 4-byte selector of the error."""
        return keccak256(self.signature.encode())[:4]


def _abi_type(entry: Mapping[str, Any]) -> str:
    t = str(entry["type"])
    if t.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in entry.get("components", []))
        return f"({inner}){t[5:]}"
    return t


_HEX = re.compile(r"0x[0-9a-fA-F]*")


def extract_revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data carried by a web3.py exception (or any exception), if there is any."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (bytes, bytearray)) and len(item) >= 4:
            return bytes(item)
        if isinstance(item, str):
            m = _HEX.fullmatch(item.strip())
            if m and len(item.strip()) >= 10 and len(item.strip()) % 2 == 0:
                return bytes.fromhex(item.strip()[2:])
            continue
        if isinstance(item, Mapping):
            for key in ("data", "error", "originalError"):
                if key in item:
                    todo.append(item[key])
            continue
        if isinstance(item, BaseException):
            todo.append(getattr(item, "data", None))
            todo.append(getattr(item, "rpc_response", None))
            for arg in item.args:
                if isinstance(arg, (Mapping, str, bytes, bytearray)):
                    todo.append(arg)
            todo.append(item.__cause__)
    return None


class ErrorDecoder:
    """Selector → custom error, built from any number of ABIs (errors with the same selector merge)."""

    def __init__(
        self, abis: Iterable[Sequence[Mapping[str, Any]]], decimals: int = 18, symbol: str = ""
    ) -> None:
        self.decimals = decimals
        self.symbol = symbol
        self.specs: dict[bytes, ErrorSpec] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                inputs = entry.get("inputs", [])
                spec = ErrorSpec(
                    name=str(entry["name"]),
                    types=tuple(_abi_type(i) for i in inputs),
                    arg_names=tuple(str(i.get("name", "")) for i in inputs),
                    internal_types=tuple(str(i.get("internalType", "")) for i in inputs),
                )
                self.specs.setdefault(spec.selector, spec)

    def decode(self, data: bytes | str) -> DecodedContractError:
        """The ContractError for revert `data` (unknown selectors and empty data still give one)."""
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data
        if not raw:
            return DecodedContractError(
                "EmptyRevert",
                (),
                "the call reverted without a reason: check the contract address, the arguments and your balance",
            )
        selector, body = raw[:4], raw[4:]
        if selector == _ERROR_STRING_SELECTOR:
            try:
                (reason,) = abi_decode(["string"], body)
            except (DecodingError, ValueError, OverflowError):
                reason = "0x" + body.hex()
            return DecodedContractError("Error", (reason,), f"the contract said: {reason}")
        if selector == _PANIC_SELECTOR:
            try:
                (code,) = abi_decode(["uint256"], body)
            except (DecodingError, ValueError, OverflowError):
                code = -1
            why = PANIC_REASONS.get(int(code), "unknown panic")
            return DecodedContractError(
                "Panic", (hex(code),), f"the contract panicked: {why}; this is a bug, report it"
            )
        spec = self.specs.get(selector)
        if spec is None:
            return DecodedContractError(
                f"UnknownError_0x{selector.hex()}",
                ("0x" + body.hex(),) if body else (),
                "the ABI does not declare this error: is the deployment record for this version of gpusettle?",
            )
        try:
            values = abi_decode(list(spec.types), body)
        except (DecodingError, ValueError, OverflowError):
            return DecodedContractError(spec.name, ("0x" + body.hex(),), _EXTRA_HINTS.get(spec.name))
        rendered = tuple(self._render(spec, i, v) for i, v in enumerate(values))
        return DecodedContractError(spec.name, rendered, self._hint(spec, values), raw_args=tuple(values))

    def _render(self, spec: ErrorSpec, index: int, value: Any) -> Any:
        name = spec.arg_names[index] if index < len(spec.arg_names) else ""
        internal = spec.internal_types[index] if index < len(spec.internal_types) else ""
        label = f"{name}=" if name else ""
        if internal.endswith("JobStatus") and isinstance(value, int) and 0 <= value < len(JOB_STATUS_NAMES):
            return f"{label}{JOB_STATUS_NAMES[value]}"
        if spec.types[index] == "bytes32" and isinstance(value, bytes):
            text = value.rstrip(b"\x00")
            if text and all(32 <= b < 127 for b in text):
                return f'{label}"{text.decode()}"'
            return f"{label}0x{value.hex()}"
        if spec.types[index] == "address" and isinstance(value, str):
            return f"{label}{checksum_address(bytes.fromhex(value[2:]))}"
        if isinstance(value, bytes):
            return f"{label}0x{value.hex()}"
        if name in _AMOUNT_ARGS and isinstance(value, int):
            unit = f" {self.symbol}" if self.symbol else ""
            return f"{label}{format_units(value, self.decimals)}{unit}"
        return f"{label}{value}"

    def _hint(self, spec: ErrorSpec, values: Sequence[Any]) -> str | None:
        unit = f" {self.symbol}" if self.symbol else ""
        if spec.name == "ERC20InsufficientBalance" and len(values) == 3:
            _, have, need = values
            return (
                f"the account holds {format_units(int(have), self.decimals)}{unit} but needs "
                f"{format_units(int(need), self.decimals)}{unit}; get more tokens first"
            )
        if spec.name == "ERC20InsufficientAllowance" and len(values) == 3:
            _, have, need = values
            return (
                f"the allowance is {format_units(int(have), self.decimals)}{unit} but "
                f"{format_units(int(need), self.decimals)}{unit} is needed; approve more or use --permit"
            )
        if spec.name == "Unauthorized" and len(values) == 2:
            role = (
                values[1].rstrip(b"\x00").decode(errors="replace")
                if isinstance(values[1], bytes)
                else values[1]
            )
            return f"only the {role} may do this: send it from the account that holds that role"
        return _EXTRA_HINTS.get(spec.name)
