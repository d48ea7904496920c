"""`gpusettle oracle run`: the oracle daemon's command line."""

from __future__ import annotations

from pathlib import Path

import click

from ..daemon_cli import load_account, node_and_key_options, setup_logging
from ..errors import GpusettleError
from ..models import DeploymentRecord
from .app import DEFAULT_MAX_BODY, IntakeSettings
from .poster import GWEI, PosterSettings
from .service import OracleConfig, OracleService

__all__ = ["oracle", "run"]


@click.group(name="oracle")
def oracle() -> None:
    """Verify receipts and settle them on-chain."""


@oracle.command(name="run")
@node_and_key_options("Keystore alias of this oracle's signing key.")
@click.option("--arbiter-account", default=None, help="Keystore alias of the arbiter key (reports fraud).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the store (SQLite) and result payloads live.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8700, show_default=True)
@click.option("--public-url", default=None, help="How peers reach this oracle (default http://host:port).")
@click.option(
    "--peer", "peers", multiple=True, help="Another oracle's URL to ask for co-signatures (repeat)."
)
@click.option("--no-post", is_flag=True, help="Verify and co-sign for peers only; never send transactions.")
@click.option(
    "--confirmations",
    type=int,
    default=None,
    help="Blocks deep before final (default: the network's own, at least 2 off a local chain).",
)
@click.option("--batch-max", type=int, default=200, show_default=True, help="Most receipts per settleBatch.")
@click.option("--batch-wait", type=float, default=0.3, show_default=True, help="Seconds to gather a batch.")
@click.option("--max-in-flight", type=int, default=4, show_default=True, help="Batches pending at once.")
@click.option("--max-fee-gwei", type=float, default=500.0, show_default=True, help="Fee cap per gas.")
@click.option("--priority-fee-gwei", type=float, default=None, help="Tip per gas (default: ask the node).")
@click.option(
    "--stuck-after",
    type=float,
    default=20.0,
    show_default=True,
    help="Seconds before a pending transaction is replaced with higher fees.",
)
@click.option("--max-body", type=int, default=DEFAULT_MAX_BODY, show_default=True, help="Receipt size limit.")
@click.option(
    "--synchronous",
    type=click.Choice(["FULL", "NORMAL"]),
    default="FULL",
    show_default=True,
    help="SQLite durability: FULL survives power loss, NORMAL only process crashes.",
)
@click.option("--log-level", default="INFO", show_default=True)
def run(
    rpc_url: str,
    deployment: Path,
    keystore: str | None,
    alias: str,
    password_file: str | None,
    arbiter_account: str | None,
    data_dir: Path,
    host: str,
    port: int,
    public_url: str | None,
    peers: tuple[str, ...],
    no_post: bool,
    confirmations: int | None,
    batch_max: int,
    batch_wait: float,
    max_in_flight: int,
    max_fee_gwei: float,
    priority_fee_gwei: float | None,
    stuck_after: float,
    max_body: int,
    synchronous: str,
    log_level: str,
) -> None:
    """Serve the oracle API and settle verified receipts until stopped (Ctrl-C or SIGTERM)."""
    from ..chain import Gpusettle

    setup_logging(log_level)
    try:
        record = DeploymentRecord.load(deployment)
        account = load_account(keystore, alias, password_file, "oracle")
        arbiter = (
            load_account(keystore, arbiter_account, password_file, "arbiter") if arbiter_account else None
        )
        config = OracleConfig(
            data_dir=data_dir,
            host=host,
            port=port,
            public_url=public_url,
            peers=list(peers),
            post=not no_post,
            poster=PosterSettings(
                batch_max=batch_max,
                batch_wait=batch_wait,
                confirmations=confirmations,
                max_in_flight=max_in_flight,
                stuck_after=stuck_after,
                max_fee_cap=int(max_fee_gwei * GWEI),
                priority_fee=int(priority_fee_gwei * GWEI) if priority_fee_gwei is not None else None,
            ),
            intake=IntakeSettings(max_body=max_body),
            synchronous=synchronous,
        )
        service = OracleService(
            config,
            lambda: Gpusettle.connect(rpc_url, record),
            account,
            arbiter,
        )
    except GpusettleError as exc:
        raise click.ClickException(str(exc)) from None
    service.serve()
