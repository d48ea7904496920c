"""The demo's last step: index its chain, serve the explorer over the index and print the URL.

Without --explore the explorer is stopped again right after (the demo's time is measured); with it, anvil,
an index follower and the explorer keep running until Ctrl-C or SIGTERM, then all stop. The index and the
explorer run in the demo's own process (threads), so starting them costs no interpreter start-up, and
nothing of them can outlive the demo.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import uvicorn

from .chain import Gpusettle
from .chain.logs import RpcLogSource
from .devnet import free_port
from .errors import GpusettleError
from .explorer import create_app
from .index.db import Database
from .index.follower import Follower

__all__ = ["ExplorerServer", "index_chain", "wait_for_stop"]

EXPLORE_HINT = (
    "`make demo EXPLORE=1` (`python -m gpusettle.demo --explore`) keeps the chain, the index and the "
    "explorer running until Ctrl-C"
)


def index_chain(gs: Gpusettle, db_path: Path) -> tuple[Follower, int]:
    """Catch an index at `db_path` up to the head of `gs`'s chain; returns the follower and the events read."""
    follower = Follower(
        Database(db_path),
        RpcLogSource(gs.chain.w3, gs.chain.rpc_url),
        gs.record.addresses,
        gs.record.deploy_block,
        confirmations=0,  # a local automining chain has no reorganisations
        chain_id=gs.chain.chain_id,
    )
    follower.record_token(gs.decimals, gs.symbol)
    return follower, follower.catch_up()


@dataclass
class ExplorerServer:
    """The explorer (uvicorn in a thread) over an index, on 127.0.0.1."""

    db_path: Path
    port: int = field(default_factory=free_port)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Its address."""
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 20.0) -> ExplorerServer:
        """Serve, and return once `/api/stats` answers."""
        config = uvicorn.Config(
            create_app(self.db_path), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="explorer", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "api/stats", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise GpusettleError(
                    f"the explorer did not answer at {self.url} within {timeout:.0f} s",
                    f"is port {self.port} free? run `gpusettle explorer --index {self.db_path}` to see why",
                )
            time.sleep(0.05)

    def alive(self) -> bool:
        """Whether it still serves."""
        return self.thread is not None and self.thread.is_alive()

    def stop(self) -> None:
        """Close its socket and wait for its thread."""
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)


def wait_for_stop(follower: Follower, explorer: ExplorerServer, anvil_alive: Callable[[], bool]) -> int:
    """Follow the chain into the index until Ctrl-C or SIGTERM; returns the signal's number.

    When the chain (`anvil_alive`) or the explorer stopped, or the follower failed, there is nothing left
    to explore: this raises GpusettleError."""
    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        got.append(signum)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    follow_stop = threading.Event()
    failed: list[BaseException] = []

    def follow() -> None:
        try:
            follower.run(follow_stop, 0.5)
        except (GpusettleError, OSError, sqlite3.Error) as exc:  # the main thread shows it and stops
            failed.append(exc)

    thread = threading.Thread(target=follow, name="index", daemon=True)
    thread.start()
    try:
        while not stop.wait(0.3):
            if failed or not anvil_alive() or not explorer.alive():
                what = (
                    f"the index follower failed: {failed[0]}"
                    if failed
                    else "anvil stopped"
                    if not anvil_alive()
                    else "the explorer stopped"
                )
                raise GpusettleError(f"{what}; stopping the demo", "run `make demo EXPLORE=1` again")
    finally:
        follow_stop.set()
        thread.join(timeout=10)
        for s, handler in old.items():
            signal.signal(s, handler)
    return got[0]
