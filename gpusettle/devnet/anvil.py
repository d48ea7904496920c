"""A local anvil node on its own port, with the JSON-RPC helpers tests and benchmarks use."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import httpx

from ..errors import GpusettleError
from .ports import free_port, wait_port
from .processes import stop_group

__all__ = ["ANVIL_ENV", "Anvil", "anvil_binary"]

ANVIL_ENV = "GPUSETTLE_ANVIL"
"""Environment variable naming the anvil executable to use (else node_modules/.bin/anvil, else PATH)."""

_CHECKOUT = Path(__file__).resolve().parents[2]

# How often a node on an automatically chosen port is retried when another process took the port
# between choosing it and anvil binding it.
_PORT_RETRIES = 5


def anvil_binary() -> str:
    """$GPUSETTLE_ANVIL, else node_modules/.bin/anvil of the current directory or of the checkout this
    package lives in, else anvil on PATH."""

    named = os.environ.get(ANVIL_ENV, "").strip()
    if named:
        return named
    for base in (Path.cwd(), _CHECKOUT):
        candidate = base / "node_modules" / ".bin" / "anvil"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("anvil")
    if found:
        return found
    raise GpusettleError(
        "anvil is not installed", "run `npm ci` (it installs @foundry-rs/anvil) or `make setup`"
    )


class Anvil:
    """A local anvil node on its own port; automine by default, `block_time` for interval mining.

    Without `port`, it takes a free one (from `port_range` when given) and, should another process take
    that port first, tries again on another."""

    def __init__(
        self,
        port: int | None = None,
        *,
        port_range: tuple[int, int] | None = None,
        accounts: int = 2,
        balance_eth: int = 1_000_000,
        chain_id: int = 31337,
        gas_limit: int = 30_000_000,
        block_time: float | None = None,
        mixed_mining: bool = False,
        log_path: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self._port_range = port_range
        self._auto_port = port is None
        self.port = port or self._pick_port()
        self.accounts = accounts
        self.balance_eth = balance_eth
        self.chain_id = chain_id
        self.gas_limit = gas_limit
        self.block_time = block_time
        self.mixed_mining = mixed_mining
        self.extra_args = list(extra_args)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        # Anvil moves old block states to disk during a long run and never deletes them (not even on SIGTERM):
        # they go to a directory of this node's own, removed when it stops, not to ~/.foundry/anvil/tmp.
        self._cache_dir: str | None = None

    def _pick_port(self) -> int:
        return free_port(*self._port_range) if self._port_range else free_port()

    @property
    def url(self) -> str:
        """Its JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        """The command line that starts it."""
        argv = [
            anvil_binary(),
            "--port",
            str(self.port),
            "--accounts",
            str(self.accounts),
            "--balance",
            str(self.balance_eth),
            "--chain-id",
            str(self.chain_id),
            "--gas-limit",
            str(self.gas_limit),
        ]
        if self._cache_dir is not None:
            argv += ["--cache-path", self._cache_dir]
        if self.block_time is not None:
            argv += ["--block-time", str(self.block_time)]
            if self.mixed_mining:
                argv.append("--mixed-mining")
        return argv + self.extra_args

    def start(self) -> Self:
        """Start it and wait until it answers."""
        if self._cache_dir is None:
            self._cache_dir = tempfile.mkdtemp(prefix="gpusettle-anvil-states-")
        for attempt in range(_PORT_RETRIES):
            out: Any = subprocess.DEVNULL
            if self.log_path is not None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                out = self.log_path.open("ab")
            self.process = subprocess.Popen(
                self.argv(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            if self.log_path is not None:
                out.close()
            try:
                wait_port(self.port, self.process, 30.0, "anvil")
                break
            except GpusettleError:
                self.stop()
                if not self._auto_port or attempt == _PORT_RETRIES - 1:
                    raise
                self.port = self._pick_port()
        deadline = time.monotonic() + 15
        while True:
            try:
                self.rpc("eth_chainId")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return self

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw JSON-RPC call (anvil_* and evm_* helpers)."""
        response = httpx.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30
        )
        body = response.json()
        if "error" in body:
            raise GpusettleError(f"{method} failed: {body['error']}")
        return body.get("result")

    def call(self, method: str, *params: Any) -> Any:
        """`rpc` with the parameters as arguments."""
        return self.rpc(method, params)

    def increase_time(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block at the new time."""
        self.call("evm_increaseTime", seconds)
        self.call("evm_mine")

    def nonce(self, address: str) -> int:
        """The account's transaction count at the latest block."""
        return int(self.call("eth_getTransactionCount", address, "latest"), 16)

    def set_balance(self, address: str, wei: int) -> None:
        """Give an account exactly `wei` ETH (development chains only)."""
        self.call("anvil_setBalance", address, hex(wei))

    def stop(self) -> None:
        """Stop the node (its launcher and the anvil binary it started)."""
        if self.process is not None:
            stop_group(self.process, 10.0)
        if self._cache_dir is not None:
            shutil.rmtree(self._cache_dir, ignore_errors=True)
            self._cache_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
