"""`gpusettle worker run`: the worker daemon's command line."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import click
from eth_utils.address import to_checksum_address

from ..daemon_cli import load_account, node_and_key_options, setup_logging
from ..errors import GpusettleError
from ..models import DeploymentRecord
from ..workloads.sandbox import SandboxPolicy, default_runtime_paths
from .runner import Worker, WorkerConfig

__all__ = ["run", "worker"]


@click.group(name="worker")
def worker() -> None:
    """Run jobs on this machine's GPUs and get them paid."""


@worker.command(name="run")
@node_and_key_options("Keystore alias of the worker key.")
@click.option("--provider", required=True, help="The provider's staking wallet address.")
@click.option("--oracle", "oracle_url", required=True, help="The oracle's URL (receipts go there).")
@click.option(
    "--spec-store",
    default=None,
    help="Where job specs are: an http(s) URL or a directory (default: the oracle).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the worker keeps its state, job directories and result payloads.",
)
@click.option("--device", default="auto", show_default=True, help="matmul device: auto, cpu or cuda[:N].")
@click.option(
    "--allow-command", is_flag=True, help="Run `command` workloads (client programs) on this machine."
)
@click.option(
    "--unsandboxed",
    is_flag=True,
    help="Run command workloads WITHOUT the bubblewrap sandbox (they get this worker's rights).",
)
@click.option(
    "--allow-network", is_flag=True, help="Give sandboxed programs the network when their spec asks."
)
@click.option(
    "--sandbox-path",
    "sandbox_paths",
    multiple=True,
    help="A host directory exposed read-only in the sandbox (a runtime or model cache); repeatable. "
    "Default: this worker's Python.",
)
@click.option(
    "--input-url-prefix",
    "input_url_prefixes",
    multiple=True,
    help="A URL prefix inputs may be fetched from besides the oracle; repeatable.",
)
@click.option("--max-memory-mb", type=int, default=8192, show_default=True, help="Memory bound of a job.")
@click.option("--max-disk-mb", type=int, default=10240, show_default=True, help="Disk bound of a job.")
@click.option("--max-output-mb", type=int, default=1024, show_default=True, help="Largest output of a job.")
@click.option("--metrics-port", type=int, default=None, help="Serve /metrics on 127.0.0.1:PORT.")
@click.option(
    "--poll-interval", type=float, default=1.0, show_default=True, help="Seconds between chain polls."
)
@click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs are finished.")
@click.option("--log-level", default="INFO", show_default=True)
def run(
    rpc_url: str,
    deployment: Path,
    keystore: str | None,
    alias: str,
    password_file: str | None,
    provider: str,
    oracle_url: str,
    spec_store: str | None,
    data_dir: Path,
    device: str,
    allow_command: bool,
    unsandboxed: bool,
    allow_network: bool,
    sandbox_paths: tuple[str, ...],
    input_url_prefixes: tuple[str, ...],
    max_memory_mb: int,
    max_disk_mb: int,
    max_output_mb: int,
    metrics_port: int | None,
    poll_interval: float,
    max_jobs: int | None,
    log_level: str,
) -> None:
    """Accept, run, meter and receipt jobs for PROVIDER until stopped (Ctrl-C or SIGTERM)."""
    from ..chain import Gpusettle

    setup_logging(log_level)
    try:
        record = DeploymentRecord.load(deployment)
        account = load_account(keystore, alias, password_file, "worker")
        config = WorkerConfig(
            data_dir=data_dir,
            provider=to_checksum_address(provider),
            oracle_url=oracle_url,
            spec_store=spec_store,
            device=device,
            allow_command=allow_command,
            unsandboxed=unsandboxed,
            sandbox=SandboxPolicy(
                allow_network=allow_network,
                max_memory_mb=max_memory_mb,
                max_disk_mb=max_disk_mb,
                max_output_mb=max_output_mb,
                runtime_paths=tuple(str(Path(p).resolve()) for p in sandbox_paths) or default_runtime_paths(),
                input_url_prefixes=input_url_prefixes,
            ),
            metrics_port=metrics_port,
            poll_interval=poll_interval,
            max_jobs=max_jobs,
        )
        daemon = Worker(config, lambda: Gpusettle.connect(rpc_url, record), account)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            del frame
            logging.getLogger("gpusettle.worker").info("signal %d: stopping", signum)
            daemon.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        daemon.run()
    except GpusettleError as exc:
        raise click.ClickException(str(exc)) from None
