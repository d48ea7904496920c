"""Many transactions from one account without waiting for each: setting up tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from ..chain import Chain, Gpusettle
from ..errors import GpusettleError

__all__ = ["FastSender"]


class FastSender:
    """Sends many transactions from one account without waiting for each (anvil mines each at once),
    then checks them all: a throughput helper for setting up tests and benchmarks."""

    def __init__(self, client: Gpusettle | Chain, account: LocalAccount | str, gas: int = 1_000_000) -> None:
        self.chain = client.chain if isinstance(client, Gpusettle) else client
        self.account = account
        self.address = account if isinstance(account, str) else account.address
        self.gas = gas
        w3 = self.chain.w3
        self.nonce = int(w3.eth.get_transaction_count(cast(Any, self.address), "latest"))
        block = w3.eth.get_block("latest")
        base = int(block.get("baseFeePerGas") or 0)
        self.max_fee = 4 * base + 2 * 10**9
        self.tip = 10**9
        self.sent: list[tuple[str, str]] = []

    def send(
        self, description: str, to: str, data: str | bytes = b"", value: int = 0, gas: int | None = None
    ) -> str:
        """Sign and send; returns the hash."""
        w3 = self.chain.w3
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain.chain_id,
            "nonce": self.nonce,
            "to": to,
            "data": data,
            "value": value,
            "gas": gas or self.gas,
            "maxFeePerGas": self.max_fee,
            "maxPriorityFeePerGas": self.tip,
        }
        if isinstance(self.account, str):
            tx["from"] = self.account
            tx_hash = w3.eth.send_transaction(cast(Any, tx)).to_0x_hex()
        else:
            signed = self.account.sign_transaction(tx)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()
        self.nonce += 1
        self.sent.append((description, tx_hash))
        return tx_hash

    def call(self, contract: Any, fn: str, *args: Any, gas: int | None = None) -> str:
        """Send `contract.fn(*args)`."""
        data = contract.encode_abi(fn, args=list(args))
        return self.send(f"{fn}{args}", contract.address, data, gas=gas)

    def wait(self, timeout: float = 120.0) -> list[Any]:
        """Receipts of everything sent, in order; GpusettleError naming the first that reverted."""
        w3 = self.chain.w3
        receipts = []
        deadline = time.monotonic() + timeout
        for description, tx_hash in self.sent:
            while True:
                try:
                    receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
                    break
                except TransactionNotFound:
                    if time.monotonic() > deadline:
                        raise GpusettleError(
                            f"{description}: {tx_hash} not mined in {timeout:.0f} s"
                        ) from None
                    time.sleep(0.02)
            if int(receipt["status"]) != 1:
                raise GpusettleError(f"{description} reverted ({tx_hash}): {self._why(tx_hash, receipt)}")
            receipts.append(receipt)
        self.sent.clear()
        return receipts

    def _why(self, tx_hash: str, receipt: Any) -> str:
        w3 = self.chain.w3
        tx = w3.eth.get_transaction(HexBytes(tx_hash))
        try:
            w3.eth.call(
                cast(Any, {"from": tx["from"], "to": tx["to"], "data": tx["input"]}),
                int(receipt["blockNumber"]) - 1,
            )
        except Exception as exc:  # noqa: BLE001 - only for the message
            decoded = self.chain.contract_error(exc)
            return str(decoded) if decoded else str(exc)
        return "unknown reason"
