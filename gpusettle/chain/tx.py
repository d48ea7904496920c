"""A web3.py connection that plans, signs, sends and confirms transactions: gpusettle's only
transaction manager (nonces, fees, fee bumps, confirmations, reorganisations).

Every state-changing call goes through two steps so a person can look before anything is signed:
`plan_call` / `plan_deploy` estimate gas (a revert surfaces here as a decoded ContractError) and price
it with EIP-1559 fees; `send` signs the plan, sends it, waits for the receipt and the confirmations,
and decodes the events the transaction emitted.

A daemon that must survive a crash between signing and sending (the oracle's poster) uses the parts
separately: `eip1559_fees` and `replacement_fees` under a `FeePolicy`, `next_nonce` from its own record
and the chain's mined count, `sign_eip1559` / `resign` to get raw transactions it stores before
`broadcast`, and `finality` to follow any of the attempts at one nonce until it is final.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any, cast

import requests
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TimeExhausted, TransactionNotFound, Web3Exception
from web3.providers.rpc import HTTPProvider

from ..errors import ConfigError, GpusettleError, InsufficientFundsError, RpcUnavailableError, WrongChainError
from ..units import format_units
from .revert import DecodedContractError, ErrorDecoder, extract_revert_data

__all__ = [
    "GAS_MARGIN",
    "GWEI",
    "Chain",
    "DecodedEvent",
    "FeePolicy",
    "Finality",
    "FinalityState",
    "SignedTx",
    "Signer",
    "TransactionTimeoutError",
    "TxOutcome",
    "TxPlan",
    "next_nonce",
    "sender_address",
]

GWEI = 10**9

GAS_MARGIN = 1.2
"""Gas limit = estimate x this margin: estimates are exact for the state they ran on, which may move."""

Signer = LocalAccount | str
"""A key that signs locally, or (development chains only) the address of an account the node unlocks."""


def sender_address(signer: Signer) -> str:
    """The checksummed address a signer sends from."""
    return to_checksum_address(signer if isinstance(signer, str) else signer.address)


class TransactionTimeoutError(GpusettleError):
    """A sent transaction was not mined, or not confirmed, in time."""

    def __init__(self, tx_hash: str, seconds: float, what: str = "mined") -> None:
        super().__init__(
            f"transaction {tx_hash} was not {what} within {seconds:.0f} s",
            "it may still be mined: look it up by its hash before sending it again",
        )
        self.tx_hash = tx_hash


@dataclass(frozen=True)
class DecodedEvent:
    """One event a transaction emitted, decoded with the ABI of the contract that emitted it."""

    contract: str
    name: str
    args: dict[str, Any]
    address: str
    log_index: int


@dataclass
class TxPlan:
    """A transaction ready to sign: what it does, its gas and its fees."""

    description: str
    sender: str
    to: str | None
    data: str
    value: int
    gas_estimate: int
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    legacy_gas_price: int | None = None
    contract_name: str | None = None
    """For a deployment, the contract deployed."""

    @property
    def max_cost(self) -> int:
        """The most the transaction can cost in wei (gas limit x max fee, plus value)."""
        price = self.legacy_gas_price if self.legacy_gas_price is not None else self.max_fee_per_gas
        return self.gas_limit * price + self.value

    @property
    def expected_cost(self) -> int:
        """Estimated gas x max fee: what a person should expect to pay at most for the estimate."""
        price = self.legacy_gas_price if self.legacy_gas_price is not None else self.max_fee_per_gas
        return self.gas_estimate * price

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary for --json output."""
        return {
            "description": self.description,
            "from": self.sender,
            "to": self.to,
            "value": self.value,
            "gas_estimate": self.gas_estimate,
            "gas_limit": self.gas_limit,
            "max_fee_per_gas": self.max_fee_per_gas,
            "max_priority_fee_per_gas": self.max_priority_fee_per_gas,
            "max_cost_wei": self.max_cost,
        }

    def describe(self) -> str:
        """One human line: what, gas, and the most it can cost in ETH."""
        gwei = (self.legacy_gas_price if self.legacy_gas_price is not None else self.max_fee_per_gas) / 1e9
        return (
            f"{self.description}\n  from {self.sender}; estimated gas {self.gas_estimate:,} "
            f"(limit {self.gas_limit:,}) at up to {gwei:.3g} gwei: at most {format_units(self.max_cost)} ETH"
        )


@dataclass
class TxOutcome:
    """A mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    effective_gas_price: int
    success: bool
    contract_address: str | None = None
    events: list[DecodedEvent] = field(default_factory=list)

    def event(self, name: str) -> DecodedEvent:
        """The first event called `name`; KeyError if the transaction emitted none."""
        for ev in self.events:
            if ev.name == name:
                return ev
        raise KeyError(name)

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary for --json output."""
        return {
            "tx_hash": self.tx_hash,
            "block": self.block_number,
            "gas_used": self.gas_used,
            "success": self.success,
            "contract_address": self.contract_address,
            "events": [
                {"name": e.name, "contract": e.contract, "args": _jsonable(e.args)} for e in self.events
            ],
        }


@dataclass(frozen=True)
class FeePolicy:
    """How a managed sender prices its transactions and their replacements."""

    max_fee_cap: int = 500 * GWEI
    """Never offer more than this per gas."""
    priority_fee: int | None = None
    """Tip per gas; None asks the node (eth_maxPriorityFeePerGas), else 1 gwei."""
    bump_percent: int = 20
    """Fee increase of a replacement (nodes need at least 10%)."""


@dataclass(frozen=True)
class SignedTx:
    """A signed EIP-1559 transaction, ready to store and to broadcast (again)."""

    tx_hash: str
    nonce: int
    raw: bytes
    max_fee: int
    priority_fee: int


class FinalityState(StrEnum):
    """Where a transaction stands."""

    UNKNOWN = "unknown"
    """No attempt is mined (pending, dropped, or removed by a reorganisation)."""
    MINED = "mined"
    """Mined, not yet `confirmations` deep in a block that is still canonical."""
    FINAL = "final"
    """`confirmations` deep in a block that is still canonical."""


@dataclass(frozen=True)
class Finality:
    """What `Chain.finality` found for the attempts at one nonce."""

    state: FinalityState
    tx_hash: str | None = None
    """The attempt that was mined."""
    receipt: Any = None
    block_number: int | None = None
    block_hash: str | None = None


def next_nonce(mined: int, recorded: int | None, open_nonces: Sequence[int]) -> int:
    """The nonce of a sender's next transaction, from its own record, never from the node's pending count.

    `mined` is the chain's mined count, `recorded` the sender's stored next nonce and `open_nonces` those
    of its transactions still pending. With nothing pending every nonce below the mined count is used and
    none above it."""
    if not open_nonces:
        return mined
    return max(mined, recorded or 0, max(open_nonces) + 1)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


_NETWORK_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)


class Chain:
    """One JSON-RPC endpoint and the ABIs needed to read its reverts and events."""

    def __init__(
        self,
        w3: Web3,
        rpc_url: str,
        *,
        decoder: ErrorDecoder | None = None,
        poll_interval: float = 0.2,
        timeout: float = 180.0,
    ) -> None:
        self.w3 = w3
        self.rpc_url = rpc_url
        self.decoder = decoder or ErrorDecoder([])
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._event_index: dict[bytes, tuple[str, Contract, str]] = {}
        self._chain_id: int | None = None

    # -- connecting ------------------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        rpc_url: str,
        *,
        expected_chain_id: int | None = None,
        network: str | None = None,
        decoder: ErrorDecoder | None = None,
        request_timeout: float = 30.0,
        timeout: float = 180.0,
        poll_interval: float = 0.2,
    ) -> Chain:
        """Connect over HTTP; RpcUnavailableError when nobody answers, WrongChainError when the node
        serves another chain id than `expected_chain_id`."""
        if not rpc_url.startswith(("http://", "https://")):
            raise ConfigError(f"unsupported RPC URL {rpc_url!r}", "use an http:// or https:// URL")
        w3 = Web3(
            HTTPProvider(
                rpc_url, request_kwargs={"timeout": request_timeout}, exception_retry_configuration=None
            )
        )
        chain = cls(w3, rpc_url, decoder=decoder, timeout=timeout, poll_interval=poll_interval)
        actual = chain.chain_id
        if expected_chain_id is not None and actual != expected_chain_id:
            raise WrongChainError(expected_chain_id, actual, network)
        return chain

    def rpc(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` (a web3 call), turning transport failures into RpcUnavailableError."""
        try:
            return fn()
        except _NETWORK_ERRORS as exc:
            raise RpcUnavailableError(_redact(self.rpc_url), type(exc).__name__) from None

    @property
    def chain_id(self) -> int:
        """The chain id the node reports (read once)."""
        if self._chain_id is None:
            self._chain_id = int(self.rpc(lambda: self.w3.eth.chain_id))
        return self._chain_id

    def block_number(self) -> int:
        """The latest block number."""
        return int(self.rpc(lambda: self.w3.eth.block_number))

    def balance(self, address: str) -> int:
        """Ether balance in wei."""
        return int(self.rpc(lambda: self.w3.eth.get_balance(to_checksum_address(address))))

    def code(self, address: str) -> bytes:
        """Runtime code at `address` (empty for an account without code)."""
        return bytes(self.rpc(lambda: self.w3.eth.get_code(to_checksum_address(address))))

    def timestamp(self, block: int | str = "latest") -> int:
        """A block's timestamp."""
        blk = self.rpc(lambda: self.w3.eth.get_block(cast(Any, block)))
        return int(blk["timestamp"])

    # -- events ----------------------------------------------------------------------------------------

    def register_contract(self, name: str, contract: Contract) -> None:
        """Decode this contract's events in transaction outcomes."""
        for entry in cast(list[dict[str, Any]], contract.abi):
            if entry.get("type") != "event" or entry.get("anonymous"):
                continue
            types = ",".join(_canonical_type(i) for i in entry.get("inputs", []))
            topic = bytes(Web3.keccak(text=f"{entry['name']}({types})"))
            self._event_index[topic] = (name, contract, str(entry["name"]))

    def decode_logs(self, logs: Iterable[Mapping[str, Any]]) -> list[DecodedEvent]:
        """Decode every log whose topic belongs to a registered contract at its address."""
        out: list[DecodedEvent] = []
        for log in logs:
            topics = log.get("topics") or []
            if not topics:
                continue
            hit = self._event_index.get(bytes(topics[0]))
            if hit is None:
                continue
            name, contract, event_name = hit
            if contract.address and to_checksum_address(log["address"]) != contract.address:
                continue
            try:
                decoded = getattr(contract.events, event_name)().process_log(log)
            except Exception:  # noqa: BLE001, S112 - a log we cannot decode is left out, not fatal
                continue
            out.append(
                DecodedEvent(
                    contract=name,
                    name=event_name,
                    args=dict(decoded["args"]),
                    address=to_checksum_address(log["address"]),
                    log_index=int(log["logIndex"]),
                )
            )
        return out

    # -- planning --------------------------------------------------------------------------------------

    def _fees(self) -> tuple[int, int, int | None]:
        block = self.rpc(lambda: self.w3.eth.get_block("latest"))
        base = block.get("baseFeePerGas")
        if base is None:
            price = int(self.rpc(lambda: self.w3.eth.gas_price))
            return price, price, price
        try:
            tip = int(self.rpc(lambda: self.w3.eth.max_priority_fee))
        except (ValueError, Web3Exception):
            tip = 10**9
        return 2 * int(base) + tip, tip, None

    def contract_error(self, exc: BaseException) -> DecodedContractError | None:
        """The decoded custom error an exception carries, if it carries revert data."""
        data = extract_revert_data(exc)
        if data is None:
            text = str(exc).lower()
            if "revert" in text or "execution reverted" in text:
                return self.decoder.decode(b"")
            return None
        return self.decoder.decode(data)

    def plan(
        self,
        description: str,
        sender: str,
        *,
        to: str | None,
        data: str,
        value: int = 0,
        contract_name: str | None = None,
    ) -> TxPlan:
        """Estimate gas and price a transaction; the revert reason as a ContractError if it would fail."""
        tx: dict[str, Any] = {"from": to_checksum_address(sender), "data": data, "value": value}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        try:
            estimate = int(self.rpc(lambda: self.w3.eth.estimate_gas(cast(Any, tx))))
        except RpcUnavailableError:
            raise
        except (Web3Exception, ValueError) as exc:
            decoded = self.contract_error(exc)
            if decoded is not None:
                raise decoded from None
            if "insufficient funds" in str(exc).lower():
                raise InsufficientFundsError(
                    sender, "more", format_units(self.balance(sender)), "ETH"
                ) from None
            raise GpusettleError(
                f"the node refused to estimate {description!r}: {_rpc_message(exc)}",
                "check the arguments and the account's ETH balance",
            ) from None
        max_fee, tip, legacy = self._fees()
        limit = math.ceil(estimate * GAS_MARGIN)
        return TxPlan(
            description=description,
            sender=to_checksum_address(sender),
            to=to_checksum_address(to) if to is not None else None,
            data=data,
            value=value,
            gas_estimate=estimate,
            gas_limit=limit,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
            legacy_gas_price=legacy,
            contract_name=contract_name,
        )

    def plan_call(
        self, description: str, sender: str, contract: Contract, fn_name: str, *args: Any
    ) -> TxPlan:
        """Plan a call of `contract.fn_name(*args)` from `sender`."""
        data = str(contract.encode_abi(fn_name, args=list(args)))
        return self.plan(description, sender, to=contract.address, data=data)

    def plan_deploy(
        self,
        description: str,
        sender: str,
        abi: Sequence[Mapping[str, Any]],
        bytecode: str,
        *args: Any,
        name: str,
    ) -> TxPlan:
        """Plan deploying a contract from its creation bytecode with constructor `args`."""
        factory = self.w3.eth.contract(abi=cast(Any, abi), bytecode=bytecode)
        data = factory.constructor(*args).data_in_transaction
        return self.plan(description, sender, to=None, data=data, contract_name=name)

    # -- managed sending (a daemon that stores what it signs) -------------------------------------------

    def eip1559_fees(self, policy: FeePolicy) -> tuple[int, int]:
        """(max fee, tip) per gas for a transaction sent now: twice the base fee plus the tip, capped."""
        block = self.rpc(lambda: self.w3.eth.get_block("latest"))
        base = int(block.get("baseFeePerGas") or 0)
        tip = policy.priority_fee
        if tip is None:
            try:
                tip = int(self.rpc(lambda: self.w3.eth.max_priority_fee))
            except (Web3Exception, ValueError):
                tip = GWEI
        max_fee = min(policy.max_fee_cap, 2 * base + tip)
        return max_fee, min(tip, max_fee)

    def replacement_fees(self, last_max_fee: int, last_tip: int, policy: FeePolicy) -> tuple[int, int] | None:
        """Fees for a replacement of a stuck transaction: `bump_percent` above the last ones and at least
        today's, capped; None when the cap leaves no room for a replacement a node would accept (+10%)."""
        if last_max_fee >= policy.max_fee_cap:
            return None
        max_fee_now, tip_now = self.eip1559_fees(policy)
        factor = 100 + policy.bump_percent
        tip = max(last_tip * factor // 100 + 1, tip_now)
        max_fee = max(last_max_fee * factor // 100 + 1, max_fee_now, tip)
        max_fee = min(max_fee, policy.max_fee_cap)
        tip = min(tip, max_fee)
        if max_fee * 100 < last_max_fee * 110:
            return None
        return max_fee, tip

    def sign_eip1559(
        self,
        account: LocalAccount,
        *,
        to: str,
        data: str | bytes,
        gas: int,
        nonce: int,
        max_fee: int,
        tip: int,
        value: int = 0,
    ) -> SignedTx:
        """Sign a type-2 transaction without sending it."""
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to_checksum_address(to),
            "data": data,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "value": value,
        }
        signed = account.sign_transaction(tx)
        return SignedTx(
            tx_hash=signed.hash.to_0x_hex(),
            nonce=nonce,
            raw=bytes(signed.raw_transaction),
            max_fee=max_fee,
            priority_fee=tip,
        )

    def resign(self, account: LocalAccount, raw: bytes, max_fee: int, tip: int) -> SignedTx:
        """The same transaction (nonce, recipient, data, gas, value) at other fees: a replacement."""
        tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        return self.sign_eip1559(
            account,
            to=to_checksum_address(tx["to"]),
            data=bytes(tx["data"]),
            gas=int(tx["gas"]),
            nonce=int(tx["nonce"]),
            max_fee=max_fee,
            tip=tip,
            value=int(tx.get("value", 0)),
        )

    def broadcast(self, raw: bytes) -> str | None:
        """Send a signed transaction; None when the node took it (or already had it), else its complaint
        (lowercase). Sending the same bytes again is always safe: one nonce, at most one is mined."""
        try:
            self.rpc(lambda: self.w3.eth.send_raw_transaction(HexBytes(raw)))
            return None
        except (Web3Exception, ValueError) as exc:
            text = str(exc).lower()
            if "already known" in text or "known transaction" in text or "already imported" in text:
                return None
            return text
        except RpcUnavailableError as exc:
            return str(exc)

    def mined_nonce(self, address: str) -> int:
        """How many transactions of `address` are mined (its next nonce if nothing is pending)."""
        return int(
            self.rpc(
                lambda: self.w3.eth.get_transaction_count(cast(Any, to_checksum_address(address)), "latest")
            )
        )

    def finality(self, tx_hashes: Sequence[str], confirmations: int, latest: int | None = None) -> Finality:
        """Whether any of `tx_hashes` (attempts at one nonce, newest first) is mined, and whether it is
        `confirmations` blocks deep in a block still canonical (1 = mined). `latest` saves a round trip
        when the caller follows several transactions at once."""
        for tx_hash in tx_hashes:
            receipt = self.find_receipt(tx_hash)
            if receipt is None:
                continue
            block = int(receipt["blockNumber"])
            block_hash = HexBytes(receipt["blockHash"]).to_0x_hex()
            head = self.block_number() if latest is None else latest
            state = FinalityState.MINED
            if head - block + 1 >= confirmations:
                canonical = self.rpc(partial(self.w3.eth.get_block, block))
                if HexBytes(canonical["hash"]).to_0x_hex() == block_hash:
                    state = FinalityState.FINAL
            return Finality(state, tx_hash, receipt, block, block_hash)
        return Finality(FinalityState.UNKNOWN)

    def estimate_gas_now(self, tx: dict[str, Any], not_before: int) -> int:
        """Gas for `tx` as if mined in a block stamped no earlier than `not_before` (and after the latest
        block): a contract that checks times against block.timestamp must not fail the estimate only
        because a quiet chain's latest block is old. Nodes that take no block overrides get a plain
        estimate. A revert raises the decoded ContractError."""
        latest = self.timestamp("latest")
        stamp = max(latest + 1, not_before)
        response = cast(
            dict[str, Any],
            self.rpc(
                lambda: self.w3.provider.make_request(
                    cast(Any, "eth_estimateGas"), [tx, "latest", {}, {"time": hex(stamp)}]
                )
            ),
        )
        if "result" in response:
            return int(str(response["result"]), 16)
        error = response.get("error") or {}
        revert = error.get("data") if isinstance(error, dict) else None
        if isinstance(revert, dict):
            revert = revert.get("data")
        if isinstance(revert, str) and revert.startswith("0x") and len(revert) >= 10:
            raise self.decoder.decode(revert)
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        if "revert" in message.lower():
            raise self.decoder.decode(b"")
        try:
            return int(self.rpc(lambda: self.w3.eth.estimate_gas(cast(Any, tx))))
        except (Web3Exception, ValueError) as exc:
            decoded = self.contract_error(exc)
            if decoded is not None:
                raise decoded from None
            raise

    def replay_revert(self, call: Mapping[str, Any], block: int) -> DecodedContractError | None:
        """Why `call` reverts on the state after `block` (a mined revert replayed on the state it ran
        on); None when it does not revert there."""
        try:
            self.rpc(lambda: self.w3.eth.call(cast(Any, dict(call)), block))
        except (Web3Exception, ValueError) as exc:
            return self.contract_error(exc)
        return None

    # -- sending ---------------------------------------------------------------------------------------

    def check_gas_funds(self, plan: TxPlan) -> None:
        """InsufficientFundsError when the sender cannot pay for the plan's gas and value."""
        have = self.balance(plan.sender)
        if have < plan.max_cost:
            raise InsufficientFundsError(
                plan.sender, format_units(plan.max_cost), format_units(have), "ETH (for gas)"
            )

    def send(self, plan: TxPlan, signer: Signer, *, confirmations: int = 1) -> TxOutcome:
        """Sign and send `plan`, wait until mined and `confirmations` blocks deep (1 = just mined).

        A mined revert raises the decoded ContractError with `tx_hash` set.
        """
        tx_hash = self.submit(plan, signer)
        return self.wait(tx_hash, plan, confirmations=confirmations)

    def submit(self, plan: TxPlan, signer: Signer) -> str:
        """Sign and send `plan` without waiting; returns the transaction hash."""
        sender = sender_address(signer)
        if sender != plan.sender:
            raise ConfigError(f"the plan was made for {plan.sender} but the signer is {sender}")
        tx: dict[str, Any] = {
            "from": sender,
            "data": plan.data,
            "value": plan.value,
            "gas": plan.gas_limit,
            "chainId": self.chain_id,
        }
        if plan.to is not None:
            tx["to"] = plan.to
        if plan.legacy_gas_price is not None:
            tx["gasPrice"] = plan.legacy_gas_price
        else:
            tx["maxFeePerGas"] = plan.max_fee_per_gas
            tx["maxPriorityFeePerGas"] = plan.max_priority_fee_per_gas
            tx["type"] = 2
        try:
            if isinstance(signer, str):
                tx_hash = HexBytes(self.rpc(lambda: self.w3.eth.send_transaction(cast(Any, tx))))
            else:
                tx["nonce"] = int(
                    self.rpc(lambda: self.w3.eth.get_transaction_count(cast(Any, sender), "pending"))
                )
                del tx["from"]
                raw = signer.sign_transaction(tx).raw_transaction
                tx_hash = HexBytes(self.rpc(lambda: self.w3.eth.send_raw_transaction(raw)))
        except (Web3Exception, ValueError) as exc:
            if "insufficient funds" in str(exc).lower():
                raise InsufficientFundsError(
                    sender, format_units(plan.max_cost), format_units(self.balance(sender)), "ETH (for gas)"
                ) from None
            raise GpusettleError(
                f"the node rejected the transaction: {_rpc_message(exc)}", "check the account and try again"
            ) from None
        return tx_hash.to_0x_hex()

    def find_receipt(self, tx_hash: str) -> Any | None:
        """The receipt of `tx_hash` if it is mined, else None."""
        try:
            return self.rpc(lambda: self.w3.eth.get_transaction_receipt(HexBytes(tx_hash)))
        except TransactionNotFound:
            return None

    def is_pending(self, tx_hash: str) -> bool:
        """Whether the node knows `tx_hash` (mined or in its mempool)."""
        try:
            self.rpc(lambda: self.w3.eth.get_transaction(HexBytes(tx_hash)))
        except TransactionNotFound:
            return False
        return True

    def wait(self, tx_hash: str, plan: TxPlan | None = None, *, confirmations: int = 1) -> TxOutcome:
        """Wait for `tx_hash` to be mined and `confirmations` deep; decode its events and its revert."""
        deadline = time.monotonic() + self.timeout
        try:
            receipt = self.rpc(
                lambda: self.w3.eth.wait_for_transaction_receipt(
                    HexBytes(tx_hash), timeout=self.timeout, poll_latency=self.poll_interval
                )
            )
        except TimeExhausted:
            raise TransactionTimeoutError(tx_hash, self.timeout) from None
        while confirmations > 1:
            # After a reorganisation the receipt moves to another block (or disappears for a while).
            found = self.finality([tx_hash], confirmations)
            if found.receipt is not None:
                receipt = found.receipt
            if found.state == FinalityState.FINAL:
                break
            if time.monotonic() > deadline:
                raise TransactionTimeoutError(tx_hash, self.timeout, f"confirmed {confirmations} blocks deep")
            time.sleep(self.poll_interval)
        success = int(receipt["status"]) == 1
        if not success:
            raise self._mined_revert(tx_hash, receipt, plan)
        address = receipt.get("contractAddress")
        return TxOutcome(
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice") or 0),
            success=success,
            contract_address=to_checksum_address(address) if address else None,
            events=self.decode_logs(receipt["logs"]),
        )

    def _mined_revert(self, tx_hash: str, receipt: Mapping[str, Any], plan: TxPlan | None) -> GpusettleError:
        error: DecodedContractError | None = None
        if plan is not None:
            call: dict[str, Any] = {"from": plan.sender, "data": plan.data, "value": plan.value}
            if plan.to is not None:
                call["to"] = plan.to
            error = self.replay_revert(call, int(receipt["blockNumber"]) - 1)
        if error is None:
            if int(receipt["gasUsed"]) >= (plan.gas_limit if plan else 1 << 62):
                return GpusettleError(
                    f"transaction {tx_hash} ran out of gas", "send it again; the state it ran on changed"
                )
            error = self.decoder.decode(b"")
        error.tx_hash = tx_hash
        error.message = f"transaction {tx_hash} reverted: {error.message}"
        error.args = (f"{error.message}. {error.hint}" if error.hint else error.message,)
        return error


def _canonical_type(entry: Mapping[str, Any]) -> str:
    t = str(entry["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_canonical_type(c) for c in entry.get("components", [])) + ")" + t[5:]
    return t


def _rpc_message(exc: BaseException) -> str:
    for arg in exc.args:
        if isinstance(arg, Mapping) and "message" in arg:
            return str(arg["message"])
    return str(exc) or type(exc).__name__


def _redact(url: str) -> str:
    """The URL without a path or query, which often hold an API key."""
    try:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.path not in ("", "/") or parts.query:
            return f"{parts.scheme}://{parts.netloc}/..."
    except ValueError:
        pass
    return url
