"""`gpusettle oracle run`: the oracle daemon's command line."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..cli.context import get_ctx, shared_options
from ..cli.errorhandling import ErrorHandlingGroup
from ..daemon_cli import HTTP_URL, LOG_LEVEL_OPTION, client_factory, knob, setup_logging
from ..errors import ConfigError
from ..listen import bind_listener

__all__ = ["oracle", "run"]

log = logging.getLogger("gpusettle.oracle")

DEFAULT_MAX_BODY = 64 * 1024
"""oracle.app.DEFAULT_MAX_BODY, repeated: importing the app costs every command's start-up."""


@click.group(name="oracle", cls=ErrorHandlingGroup)
def oracle() -> None:
    """Verify receipts and settle them on-chain."""


@oracle.command(name="run")
@click.option("--arbiter-account", default=None, help="Account alias of the arbiter key (reports fraud).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the store (SQLite) and result payloads live (default $GPUSETTLE_HOME/oracles/<account>).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port (default: the --oracle-url's, else 8700).",
)
@click.option(
    "--public-url",
    type=HTTP_URL,
    default=None,
    help="How peers reach this oracle (default http://host:port).",
)
@click.option(
    "--peer",
    "peers",
    type=HTTP_URL,
    multiple=True,
    help="Another oracle's URL to ask for co-signatures (repeat).",
)
@click.option("--no-post", is_flag=True, help="Verify and co-sign for peers only; never send transactions.")
@click.option(
    "--confirmations",
    type=click.IntRange(0, 64),
    default=None,
    help="Blocks deep before final (default: the network's own, at least 2 off a local chain).",
)
@knob("--batch-max", click.IntRange(1, 1000), 200, "Most receipts per settleBatch.")
@knob("--batch-wait", click.FloatRange(0, 60), 0.3, "Seconds to gather a batch.")
@knob("--max-in-flight", click.IntRange(1, 64), 4, "Batches pending at once.")
@knob("--max-fee-gwei", click.FloatRange(0, 1e6, min_open=True), 500.0, "Fee cap per gas.")
@click.option(
    "--priority-fee-gwei",
    type=click.FloatRange(0, 1e6),
    default=None,
    help="Tip per gas (default: ask the node).",
)
@knob(
    "--stuck-after",
    click.FloatRange(1, 3600),
    20.0,
    "Seconds before a pending transaction is replaced with higher fees.",
)
@knob("--max-body", click.IntRange(1024, 64 * 2**20), DEFAULT_MAX_BODY, "Receipt size limit.")
@knob(
    "--synchronous",
    click.Choice(["FULL", "NORMAL"]),
    "FULL",
    "SQLite durability: FULL survives power loss, NORMAL only process crashes.",
)
@click.option(
    "--store",
    "store",
    envvar="GPUSETTLE_ORACLE_STORE",
    default=None,
    help="A postgresql:// DSN to keep the store in PostgreSQL, shared by several oracle processes "
    "(default: SQLite in --data-dir). Also read from $GPUSETTLE_ORACLE_STORE; keep the password in "
    "~/.pgpass or $PGPASSWORD rather than on the command line.",
)
@knob(
    "--retention-days",
    click.FloatRange(0),
    7.0,
    "Days settled and rejected receipts are kept after the dispute window closes.",
)
@knob(
    "--input-retention-days",
    click.FloatRange(0),
    3.0,
    "Days a client's input file is kept after its (last) upload.",
)
@click.option(
    "--input-quota",
    "input_quota",
    nargs=2,
    type=(click.IntRange(1), click.IntRange(1)),
    default=(200, 4096),
    show_default=True,
    metavar="FILES MIB",
    help="Input files and MiB one client key may upload per day.",
)
@knob(
    "--heartbeat-interval",
    click.IntRange(1, 3600),
    30,
    "Seconds per lease heartbeat bucket (the workers' interval must match).",
)
@knob(
    "--probe-every", click.FloatRange(0, 86400), 600.0, "Seconds between probes of one lease (0: no probes)."
)
@knob(
    "--checkpoint-every",
    click.IntRange(1, 30 * 86400),
    3600,
    "Seconds of billing a regular lease checkpoint covers (a final one is built at billing end).",
)
@click.option(
    "--checkpoint-lag",
    type=click.IntRange(0, 3600),
    default=None,
    help="Seconds a checkpoint's end stays behind the chain's clock, so late heartbeats still count "
    "(default: the heartbeat interval + 15).",
)
@knob(
    "--lease-scan-every",
    click.FloatRange(0.1, 3600),
    10.0,
    "Seconds between scans of the lease escrow for running leases and due checkpoints, and of the staking "
    "contract for new offers to check.",
)
@click.option(
    "--worker-url",
    "worker_urls",
    multiple=True,
    metavar="PROVIDER=URL",
    help="Where a provider's worker answers probes and hardware checks (repeat); it wins over the URL the "
    "provider's worker announces itself (POST /v1/workers/endpoint). Leases and offers of providers with "
    "neither are not probed or checked.",
)
@click.option(
    "--allow-private-worker-urls/--public-worker-urls-only",
    default=None,
    help="Take worker announcements whose host is loopback or a private network. Default: allowed on a "
    "development chain (31337, 1337), refused elsewhere, since the oracle would send requests wherever a "
    "provider points it.",
)
@knob(
    "--hardware-every",
    click.FloatRange(0, 30 * 86400),
    21600.0,
    "Mean seconds between hardware checks of one offer, each wait drawn at random (exponential, clipped to "
    "0.1-3 x the mean); an offer never checked is checked within a minute of being found (0: no scheduled "
    "checks). Where the oracle set's threshold is above 1 the checks run but are not recorded on-chain "
    "(said once at start).",
)
@knob(
    "--hardware-scale",
    click.FloatRange(min=0.0, min_open=True, max=1.0),
    1.0,
    "Fraction of the VRAM-sized hardware-check matrix to use (as check-hardware --scale; small values for "
    "tests and dry runs).",
)
@LOG_LEVEL_OPTION
@shared_options
def run(
    arbiter_account: str | None,
    data_dir: Path | None,
    host: str,
    port: int | None,
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
    store: str | None,
    retention_days: float,
    input_retention_days: float,
    input_quota: tuple[int, int],
    heartbeat_interval: int,
    probe_every: float,
    checkpoint_every: int,
    checkpoint_lag: int | None,
    lease_scan_every: float,
    worker_urls: tuple[str, ...],
    allow_private_worker_urls: bool | None,
    hardware_every: float,
    hardware_scale: float,
    log_level: str,
) -> None:
    """Serve the oracle API and settle verified receipts until stopped (Ctrl-C or SIGTERM).

    Signs with --account: a key store alias, or dev:N on a development chain (`deploy` makes dev:0 the
    oracle unless told otherwise). A key outside the on-chain oracle set is refused unless --no-post.

    Workers announce where they answer (signed by the worker key); --worker-url overrides an announcement.
    Hardware checks run on their own for the offers of providers whose worker URL is known: an offer with no
    recorded check soon after it appears, then each offer again at random times (--hardware-every). A verdict
    is recorded in the HardwareRegistry where the oracle set's threshold is 1; above 1 the checks still run
    (log and metrics) but nothing is recorded. With --no-post no checks are scheduled."""
    from urllib.parse import urlparse

    from ..deploy.networks import DEVELOPMENT_CHAIN_IDS
    from ..hardware.sizing import ChallengeSettings
    from .app import IntakeSettings
    from .checkpoints import CheckpointSettings
    from .endpoints import EndpointSettings
    from .hardware_schedule import HardwareSchedule
    from .heartbeats import HeartbeatSettings
    from .inputs import InputQuota
    from .lease_work import LeaseSettings
    from .poster import GWEI, PosterSettings
    from .probes import ProbeSettings
    from .service import OracleConfig, OracleService

    c = get_ctx()
    settings = c.settings
    setup_logging(log_level)
    if port is None:
        configured = settings.resolved_oracle_url()
        port = (urlparse(configured).port if configured else None) or 8700
    alias = c.account_alias()
    connect = client_factory(settings)
    client = connect()
    account = settings.local_account(alias, "oracle", client.chain)
    arbiter = settings.local_account(arbiter_account, "arbiter", client.chain) if arbiter_account else None
    oracle_set = client.oracle_set()
    if account.address not in oracle_set.oracles:
        members = ", ".join(oracle_set.oracles) or "none"
        if not no_post:
            raise ConfigError(
                f"{alias} ({account.address}) is not in the on-chain oracle set (epoch {oracle_set.epoch}: "
                f"{members}); its attestations would be refused",
                "start it with a key in the set (on a local chain `deploy` makes dev:0 the oracle, "
                "`dev up` makes dev:1 the oracle), "
                "have governance add it (`gpusettle admin oracle-set`), or pass --no-post to serve read-only",
            )
        log.warning(
            "%s is not in the oracle set (%s): serving read-only, its co-signatures count for nothing",
            account.address,
            members,
        )
    urls = _worker_urls(worker_urls)
    sock = bind_listener(host, port, "oracle")
    try:
        config = OracleConfig(
            data_dir=(data_dir or settings.home / "oracles" / alias.replace(":", "-")).expanduser(),
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
            intake=IntakeSettings(
                max_body=max_body,
                input_quota=InputQuota(files=input_quota[0], bytes=input_quota[1] * 2**20),
            ),
            synchronous=synchronous,
            store=_store_dsn(store),
            retention_margin=retention_days * 86400,
            input_retention=input_retention_days * 86400,
            leases=LeaseSettings(
                heartbeats=HeartbeatSettings(interval=heartbeat_interval),
                probes=ProbeSettings(every=probe_every, worker_urls=urls),
                checkpoints=CheckpointSettings(
                    every=checkpoint_every,
                    settle_lag=heartbeat_interval + 15 if checkpoint_lag is None else checkpoint_lag,
                ),
                refresh_every=lease_scan_every,
            ),
            hardware=HardwareSchedule(
                every=hardware_every,
                onboard_within=min(60.0, hardware_every),
                scan_every=lease_scan_every,
            ),
            challenge=ChallengeSettings(scale=hardware_scale, worker_urls=urls),
            endpoints=EndpointSettings(
                allow_private=(
                    client.chain.chain_id in DEVELOPMENT_CHAIN_IDS
                    if allow_private_worker_urls is None
                    else allow_private_worker_urls
                )
            ),
        )
        service = OracleService(config, connect, account, arbiter)
    except BaseException:
        sock.close()
        raise
    service.serve(sockets=[sock])


def _store_dsn(value: str | None) -> str | None:
    """The --store value, checked: a PostgreSQL DSN, or nothing (SQLite)."""
    if value is None or not value.strip():
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"--store must be a postgresql:// DSN, not {value.split('://')[0]!r}",
            "for example postgresql://oracle@db.internal:5432/gpusettle; leave it out to use SQLite in --data-dir",
        )
    return value


def _worker_urls(values: tuple[str, ...]) -> dict[str, str]:
    """--worker-url PROVIDER=URL values as provider (checksummed) -> URL."""
    from eth_utils.address import is_address, to_checksum_address

    out: dict[str, str] = {}
    for value in values:
        provider, sep, url = value.partition("=")
        if not sep or not is_address(provider.strip()) or not url.strip().startswith(("http://", "https://")):
            raise ConfigError(
                f"--worker-url {value!r} is not PROVIDER=URL",
                "for example --worker-url 0xProviderAddress=http://gpu-box.internal:8800",
            )
        out[to_checksum_address(provider.strip())] = url.strip().rstrip("/")
    return out


@oracle.command(name="check-hardware")
@click.argument("offer_id", type=click.IntRange(1))
@click.option(
    "--worker-url", required=True, help="The provider's worker (its probe port), e.g. http://gpu-box:8800."
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0.0, min_open=True, max=1.0),
    default=1.0,
    show_default=True,
    help="Fraction of the VRAM-sized matrix to use (small values for tests and dry runs).",
)
@click.option("--no-post", is_flag=True, help="Run the challenge and print the verdict; record nothing.")
@shared_options
def check_hardware(offer_id: int, worker_url: str, scale: float, no_post: bool) -> None:
    """Challenge OFFER_ID's worker with seeded work sized from the offer's VRAM and record the verdict in the
    HardwareRegistry (signed with --account, which must be in the oracle set; threshold-1 sets only)."""
    from ..hardware.sizing import ChallengeSettings
    from .hardware import HardwareChecker

    c = get_ctx()
    client = c.client()
    account = c.settings.local_account(c.account_alias(), "oracle", client.chain)
    if not worker_url.startswith(("http://", "https://")):
        raise ConfigError(f"--worker-url {worker_url!r} is not an http(s) URL", "e.g. http://gpu-box:8800")
    checker = HardwareChecker(client, account, ChallengeSettings(scale=scale))
    try:
        verdict = checker.challenge(offer_id, worker_url)
        tx_hash = None if no_post else checker.post(verdict.check)
    finally:
        checker.close()
    data = {
        **verdict.check.model_dump(mode="json"),
        "problem": verdict.problem,
        "n": verdict.n,
        "limitSeconds": round(verdict.limit_s, 3),
        "txHash": tx_hash,
    }

    def human() -> None:
        word = "passed" if verdict.check.passed else f"FAILED: {verdict.problem}"
        click.echo(
            f"offer {offer_id}: hardware check {word} ({verdict.check.gpuCount} x n={verdict.n}, "
            f"{verdict.check.elapsedMs / 1000:.2f} s of {verdict.limit_s:.2f} s allowed)"
        )
        click.echo(f"recorded in tx {tx_hash}" if tx_hash else "not recorded (--no-post)")

    c.emit(data, human)
