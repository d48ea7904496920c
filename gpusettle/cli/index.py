"""`gpusettle index`: follow the contracts' events into a local database for search and the explorer."""

from __future__ import annotations

import logging
import signal
import threading

import click

from ..chain.finality import index_lag_for
from ..chain.logs import LogReader, RpcLogSource
from ..index.db import Database
from ..index.follower import Follower, StepResult
from ..index.source import default_index_path
from .context import get_ctx, shared_options

__all__ = ["index"]


@click.group()
def index() -> None:
    """The chain index behind `market`, `job create --match` and the explorer."""


@index.command("run")
@click.option(
    "--db",
    "db_target",
    help="SQLite path or postgresql:// URL (default $GPUSETTLE_HOME/index/chain-<id>.db).",
)
@click.option(
    "--confirmations",
    type=click.IntRange(0),
    help="Blocks behind the head (default: 0 on a development chain, else the network's).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.05),
    default=2.0,
    show_default=True,
    help="Seconds between polls.",
)
@click.option("--once", is_flag=True, help="Catch up to the head, then exit.")
@click.option(
    "--max-chunk",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help="Most blocks per eth_getLogs.",
)
@shared_options
def index_run(
    db_target: str | None, confirmations: int | None, poll_interval: float, once: bool, max_chunk: int
) -> None:
    """Follow the events into the index; resumes where it stopped, rewinds on a reorganisation."""
    c = get_ctx()
    client = c.client()
    target = db_target or str(default_index_path(client.chain.chain_id))
    db = Database(target)
    confs = index_lag_for(client.chain.chain_id, confirmations)
    follower = Follower(
        db,
        RpcLogSource(client.chain.w3, c.resolved_rpc_url()),
        client.record.addresses,
        client.record.deploy_block,
        confirmations=confs,
        reader=LogReader(initial_chunk=min(10_000, max_chunk), max_chunk=max_chunk),
        chain_id=client.chain.chain_id,
    )
    # Read once per start (not per event).
    follower.record_token(client.decimals, client.symbol)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    c.info(f"indexing chain {client.chain.chain_id} into {target} ({confs} confirmations)")
    if once:
        events = follower.catch_up()
        c.emit(
            {"db": target, "last_block": follower.last_block, "events": events},
            f"index at block {follower.last_block}: {events} new events",
        )
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def report(result: StepResult) -> None:
        if result.events or result.rewound_to is not None:
            c.info(f"block {result.last_block}/{result.head}: +{result.events} events")

    try:
        follower.run(stop, poll_interval, report)
    except KeyboardInterrupt:
        pass
    c.info(f"stopped at block {follower.last_block}")
