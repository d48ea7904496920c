"""`gpusettle worker run`: the worker daemon's command line."""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from ..cli.context import _setter, get_ctx, shared_options
from ..cli.errorhandling import ErrorHandlingGroup
from ..daemon_cli import (
    ACCOUNT_REF,
    HTTP_URL,
    LOG_LEVEL_OPTION,
    client_factory,
    knob,
    resolve_account,
    setup_logging,
)
from ..errors import ConfigError, GpusettleError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ..chain.client import Gpusettle
    from .leaseside import LeaseSideConfig
    from .preflight import HardwareCheck
    from .runner import WorkerConfig

__all__ = ["run", "worker"]

log = logging.getLogger("gpusettle.worker")


class _Device(click.ParamType[str, Any]):
    name = "auto|cpu|cuda[:N]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().lower()
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
            self.fail(f"{value!r} is not a device: use auto, cpu, cuda or cuda:N", param, ctx)
        return text


@click.group(name="worker", cls=ErrorHandlingGroup)
def worker() -> None:
    """Run jobs on this machine's GPUs and get them paid."""


@worker.command(name="run")
@click.option(
    "--provider",
    type=ACCOUNT_REF,
    required=True,
    help="The provider's staking wallet: an address or an account alias.",
)
@click.option(
    "--spec-store",
    default=None,
    help="Where job specs are: an http(s) URL or a directory (default: the oracle).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The worker's state, job directories and results (default $GPUSETTLE_HOME/workers/<account>).",
)
@knob("--device", _Device(), "auto", "matmul device.")
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
@knob("--max-memory-mb", click.IntRange(1), 8192, "Memory bound of a job.")
@knob("--max-disk-mb", click.IntRange(1), 10240, "Disk bound of a job.")
@knob("--max-output-mb", click.IntRange(1), 1024, "Largest output of a job.")
@click.option(
    "--metrics-port", type=click.IntRange(1, 65535), default=None, help="Serve /metrics on 127.0.0.1:PORT."
)
@click.option(
    "--simulate-gpus",
    "--dev-gpu-slots",
    "simulate_gpus",
    type=click.IntRange(1, 255),
    default=None,
    help="Development chains only: N fake GPU slots on a machine without GPUs; jobs and leases each get "
    "their own slots, several at once.",
)
@click.option(
    "--lease-escrow",
    default=None,
    help="The LeaseEscrow address (default: the deployment record's); without one the worker serves jobs only.",
)
@click.option(
    "--heartbeat-oracle",
    "heartbeat_oracles",
    type=HTTP_URL,
    multiple=True,
    help="An oracle of the set that takes lease heartbeats; repeatable (default: --oracle-url).",
)
@knob(
    "--heartbeat-interval",
    click.IntRange(1, 3600),
    30,
    "Seconds between a lease's heartbeats; it must be the oracles' interval.",
)
@click.option(
    "--probe-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Answer the oracles' lease probes (POST /v1/probe) and hardware challenges (POST /v1/hardware) on this port (0: any free one).",
)
@click.option(
    "--probe-host", default="127.0.0.1", show_default=True, help="Interface the probe server listens on."
)
@click.option(
    "--announce-url",
    type=HTTP_URL,
    default=None,
    help="Where the oracles reach the probe server, e.g. https://gpu-box.example.org:8800 (behind your NAT or "
    "proxy); the worker tells each oracle, signed with the worker key, at start and every 5 minutes. Without it "
    "only oracles whose operator names this worker (--worker-url) probe it.",
)
@click.option(
    "--availability",
    "availability_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Idle-only renting: the schedule and owner-use rule (TOML; default $GPUSETTLE_HOME/availability.toml "
    "when it exists).",
)
@click.option(
    "--owner-use-marker",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Development slots only: this file standing there means the owner uses the GPUs "
    "(default DATA_DIR/owner-use).",
)
@knob("--poll-interval", click.FloatRange(0.05, 3600), 1.0, "Seconds between chain polls.")
@click.option(
    "--max-jobs", type=click.IntRange(1), default=None, help="Exit after this many jobs are finished."
)
@LOG_LEVEL_OPTION
@click.option(
    "--oracle",
    type=HTTP_URL,
    expose_value=False,
    hidden=True,
    callback=_setter("oracle_url"),
    help="The old name of --oracle-url.",
)
@shared_options
def run(
    provider: str,
    spec_store: str | None,
    data_dir: Path | None,
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
    simulate_gpus: int | None,
    lease_escrow: str | None,
    heartbeat_oracles: tuple[str, ...],
    heartbeat_interval: int,
    probe_port: int | None,
    probe_host: str,
    announce_url: str | None,
    availability_file: Path | None,
    owner_use_marker: Path | None,
    poll_interval: float,
    max_jobs: int | None,
    log_level: str,
) -> None:
    """Accept, run, meter and receipt jobs for PROVIDER until stopped (Ctrl-C or SIGTERM).

    Signs with --account (the worker key); reads the chain, the deployment record and the oracle from
    the settings every command takes (--network, --rpc-url, --oracle-url, ...)."""
    from ..workloads.sandbox import SandboxPolicy, default_runtime_paths
    from .preflight import HardwareCheck, require_gas, this_machine, write_status
    from .runner import Worker, WorkerConfig

    c = get_ctx()
    settings = c.settings
    setup_logging(log_level)
    if spec_store is not None and not spec_store.startswith(("http://", "https://")):
        if not Path(spec_store).expanduser().is_dir():
            raise ConfigError(f"--spec-store {spec_store} is neither a URL nor a directory", "check the path")
    elif spec_store is not None:
        spec_store = HTTP_URL.convert(spec_store, None, None)
    if simulate_gpus is not None and not settings.network_info().development:
        raise ConfigError(
            "--simulate-gpus is for development chains only",
            "serve offers with the hardware this machine has",
        )
    alias = c.account_alias()
    oracle_url = c.oracle()
    connect = client_factory(settings)
    client = connect()
    provider_address = resolve_account(settings, provider, client.chain)
    account = settings.local_account(alias, "worker", client.chain)
    require_gas(client, account.address)
    hardware = HardwareCheck(client, simulate_gpus)
    offers = hardware.check_offers(provider_address)
    machine = this_machine(simulate_gpus)
    log.info("this machine: %s", machine.note)
    for offer, problem in offers:
        if problem:
            log.error("refusing offer %d: %s", offer.offer_id, problem)
        else:
            log.info("serving offer %d: %d x %s", offer.offer_id, offer.gpu_count, offer.gpu_model)
    data = (data_dir or settings.home / "workers" / alias.replace(":", "-")).expanduser()
    write_status(data, account.address, provider_address, machine.note, hardware.refused)
    if offers and all(problem for _, problem in offers):
        raise GpusettleError(
            f"this machine cannot honour any offer of provider {provider_address}: "
            + "; ".join(str(p) for _, p in offers),
            "publish an offer for this machine: `gpusettle provider offer add --this-machine --price 0.001/s` "
            "(tokens per GPU-second; per GPU-hour: 3.6/h)",
        )
    config = WorkerConfig(
        data_dir=data,
        provider=provider_address,
        oracle_url=oracle_url,
        spec_store=spec_store,
        device=device,
        allow_command=allow_command,
        poll_interval=poll_interval,
        max_jobs=max_jobs,
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
        dev_gpu_slots=simulate_gpus,
        leases=_lease_config(
            client,
            account,
            provider_address,
            data,
            heartbeat_oracles or (oracle_url,),
            lease_escrow,
            heartbeat_interval,
            probe_port,
            probe_host,
            announce_url,
            availability_file or (settings.home / "availability.toml"),
            availability_file is not None,
            owner_use_marker,
        ),
    )
    _attach_checks(config, hardware, connect, account.address, data, provider_address, machine.note)
    daemon = Worker(config, connect, account)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("signal %d: stopping", signum)
        daemon.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.run()


def _lease_config(
    client: Gpusettle,
    account: LocalAccount,
    provider: str,
    data_dir: Path,
    oracles: tuple[str, ...],
    lease_escrow: str | None,
    heartbeat_interval: int,
    probe_port: int | None,
    probe_host: str,
    announce_url: str | None,
    availability_path: Path,
    availability_asked: bool,
    owner_use_marker: Path | None,
) -> LeaseSideConfig | None:
    """How the worker serves leases, or None (jobs only) when the deployment has no LeaseEscrow."""
    from ..chain.finality import confirmations_for
    from ..leases.eip712 import lease_domain
    from .chainview import ContractLeaseChain, lease_escrow_address
    from .leaseside import LeaseSideConfig
    from .schedule import load_availability
    from .state import WorkerState

    address = lease_escrow_address(client, lease_escrow)
    if address is None:
        log.info("leases: off (the deployment record names no LeaseEscrow; --lease-escrow names one)")
        return None
    if announce_url is not None and probe_port is None:
        raise ConfigError(
            f"--announce-url {announce_url} names a probe server, but none is started",
            "add --probe-port (the port the probe server listens on behind that URL)",
        )
    if availability_asked and not availability_path.is_file():
        raise ConfigError(
            f"--availability {availability_path}: no such file",
            "write it (`gpusettle provider availability`) or leave the option out",
        )
    availability = load_availability(availability_path) if availability_path.is_file() else None
    confirmations = confirmations_for(client.chain.chain_id, None)

    def chain() -> ContractLeaseChain:
        return ContractLeaseChain(
            client, address, account, provider, WorkerState(data_dir / "worker.sqlite"), confirmations
        )

    return LeaseSideConfig(
        chain=chain,
        domain=lease_domain(client.chain.chain_id, address),
        oracles=oracles,
        heartbeat_interval=heartbeat_interval,
        probe_port=probe_port,
        probe_host=probe_host,
        announce_url=announce_url,
        availability=availability,
        availability_file=availability_path if availability is not None else None,
        owner_marker=owner_use_marker,
    )


def _attach_checks(
    config: WorkerConfig,
    hardware: HardwareCheck,
    connect: Callable[[], Gpusettle],
    worker: str,
    data_dir: Path,
    provider: str,
    note: str,
) -> None:
    """Hand the runner its hooks: the offer check and the gas check."""
    from .preflight import gas_problem, write_status

    def offer_check(offer_id: int) -> str | None:
        before = dict(hardware.refused)
        problem: str | None = hardware.problem(offer_id)
        if hardware.refused != before:
            write_status(data_dir, worker, provider, note, hardware.refused)
        return problem

    def gas_check() -> str | None:
        return gas_problem(connect(), worker)

    config.offer_check = offer_check
    config.gas_check = gas_check
