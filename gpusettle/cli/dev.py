"""`gpusettle dev`: a local development chain. `dev up` runs the whole stack; `dev fund` sends money."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import click

from ..errors import ConfigError, GpusettleError, InsufficientFundsError
from ..units import format_price, format_units, parse_price, to_base_units
from .context import Ctx, get_ctx, require_tokens, shared_options

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ..chain.client import Gpusettle
    from ..chain.tx import TxPlan
    from ..devnet import ManagedProcess

__all__ = ["dev"]

E18 = 10**18


@click.group("dev")
def dev() -> None:
    """A local development chain (anvil): `dev up` runs everything, `dev fund` sends ETH and tokens."""


def _require_development(c: Ctx) -> None:
    if not c.network.development:
        raise ConfigError(
            f"`gpusettle dev` is for local chains, not {c.network.name!r}", "use `gpusettle token transfer`"
        )


@dev.command("fund")
@click.argument("to")
@click.option("--eth", "eth", default="0", show_default=True, help="ETH to send (for gas).")
@click.option("--tokens", default="0", show_default=True, help="Compute tokens to send.")
@shared_options
def dev_fund(to: str, eth: str, tokens: str) -> None:
    """Send ETH and tokens to TO from --account (default dev:0, the local node's first account).

    Shows both transfers and asks once."""
    c = get_ctx()
    _require_development(c)
    if not c.settings.account:
        c.account = "dev:0"
        c._settings = c.settings.model_copy(update={"account": "dev:0"})
    dest = c.resolve_address(to)
    wei = to_base_units(eth, 18)
    plans: list[tuple[TxPlan, str, str]] = []
    sender = c.address()
    if wei:
        chain = c.chain()
        have = chain.balance(sender)
        if have < wei:
            raise InsufficientFundsError(sender, format_units(wei), format_units(have), "ETH")
        plans.append(
            (
                chain.plan(f"send {format_units(wei)} ETH to {dest}", sender, to=dest, data="0x", value=wei),
                f"sent {format_units(wei)} ETH",
                "eth_tx",
            )
        )
    if to_base_units(tokens, 18):
        client = c.client()
        value = c.amount(tokens)
        require_tokens(client, sender, value)
        plans.append(
            (
                client.plan_transfer(sender, dest, value, f"transfer {client.fmt(value)} to {dest}"),
                "funded",
                "token_tx",
            )
        )
    if not plans:
        raise ConfigError("nothing to send", "pass --eth AMOUNT and/or --tokens AMOUNT")
    for plan, _, _ in plans:
        c.info(plan.describe())
    question = "Send these 2 transactions?" if len(plans) == 2 else "Send this transaction?"
    if not c.confirm(question):
        raise click.Abort()
    sent: dict[str, Any] = {"to": dest}
    for plan, what, key in plans:
        sent[key] = c.send(plan, what=what, asked=True).tx_hash
    c.emit(sent, f"funded {dest}")


# ------------------------------------------------------------------------------------------------------
# dev up
# ------------------------------------------------------------------------------------------------------

DEV_ACCOUNTS = (
    ("provider", "rents out this machine: stake, the offer, earnings", 10, 10_000),
    ("worker", "the provider's worker key: accepts, runs and receipts jobs", 1, 0),
    ("client", "rents GPUs: opens jobs, claims refunds", 10, 1_000),
)
"""alias, role, ETH, tokens: the key store accounts `dev up` creates (if missing) and funds."""
ORACLE_DEV_INDEX = 1
"""The oracle posts from dev:1, so that dev:0 (`dev fund`'s default sender) never races its nonces."""


@dataclass
class _Stack:
    """What `dev up` started, stopped in reverse order."""

    processes: list[ManagedProcess]

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop(timeout=10.0)


def _local_port(url: str) -> int:
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost") or parsed.port is None:
        raise ConfigError(
            f"`dev up` starts its chain and oracle on this machine, not at {url}",
            "use an http://127.0.0.1:PORT URL (--rpc-url, --oracle-url) or leave the defaults",
        )
    return parsed.port


def _answers(url: str) -> bool:
    import socket

    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=0.3):
            return True
    except OSError:
        return False


@dev.command("up")
@click.option("--no-worker", is_flag=True, help="Do not run a worker (nor stake and publish an offer).")
@click.option(
    "--price",
    default="0.001/s",
    show_default=True,
    help="The offer's price, with its unit: tokens per GPU-second (/s) or per GPU-hour (/h).",
)
@click.option(
    "--simulate-gpus",
    type=click.IntRange(1, 255),
    default=None,
    help="Development only: offer N GPU slots and let the worker serve them on the CPU.",
)
@click.option(
    "--allow-command",
    is_flag=True,
    help="Let the worker run clients' programs (`command` jobs), each in its bubblewrap sandbox.",
)
@shared_options
def dev_up(no_worker: bool, price: str, simulate_gpus: int | None, allow_command: bool) -> None:
    """Start a local chain and everything on it; stop it all with Ctrl-C.

    Starts anvil, deploys the contracts (dev:0 governs, dev:1 is the oracle), creates and funds the
    accounts provider, worker and client in the key store, stakes and publishes an offer for this
    machine, runs the oracle and a worker, prints where each is, and waits.
    """
    c = get_ctx()
    _require_development(c)
    parse_price(price)  # a price without its unit is refused before anything starts
    rpc_url = c.resolved_rpc_url()
    oracle_url = c.oracle()
    rpc_port, oracle_port = _local_port(rpc_url), _local_port(oracle_url)
    for url, what in ((rpc_url, "a chain"), (oracle_url, "an oracle")):
        if _answers(url):
            raise ConfigError(
                f"something already listens at {url}, where `dev up` would start {what}",
                "stop it (another `dev up`, anvil or oracle), or choose other ports with --rpc-url / --oracle-url",
            )
    from ..devnet import ManagedProcess, anvil_binary

    home = c.settings.home
    state = home / "dev"
    shutil.rmtree(state, ignore_errors=True)  # the previous stack's chain is gone; so is its state
    # ... and the index of it: the new chain reuses its id and addresses, so `market` would show the old one's
    # offers until the index noticed the chain was replaced (and then asked for its database to be deleted).
    from ..index.source import default_index_path

    for stale in (default_index_path(31337), *default_index_path(31337).parent.glob("chain-31337.db-*")):
        stale.unlink(missing_ok=True)
    logs = state / "logs"
    password = _stack_password(c)
    stack = _Stack([])
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        stopping.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        anvil = ManagedProcess(
            "anvil",
            # A block every second besides one per transaction (--mixed-mining), as on a real chain: the chain's
            # clock moves while nothing is sent, so leases' checkpoints (timed by block time) come due on an idle
            # chain. Anvil's old block states go to the stack's own directory, removed with it.
            [
                anvil_binary(),
                "--port",
                str(rpc_port),
                "--chain-id",
                "31337",
                "--gas-limit",
                "30000000",
                "--block-time",
                "1",
                "--mixed-mining",
                "--cache-path",
                str(state / "anvil-states"),
            ],
            logs / "anvil.log",
        ).start()
        stack.processes.append(anvil)
        chain = _wait_chain(c, anvil)
        c._chain = chain
        c.info(f"anvil         {rpc_url} (log {anvil.log_path})")
        client, record_path = _deploy(c)
        accounts = _accounts(c, client, password)
        env = {
            **os.environ,
            "GPUSETTLE_RPC_URL": rpc_url,
            "GPUSETTLE_NETWORK": c.network.name,
            "GPUSETTLE_DEPLOYMENT": str(record_path),
            "GPUSETTLE_KEYSTORE": str(c.settings.keystore_dir()),
            "GPUSETTLE_ORACLE_URL": oracle_url,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("GPUSETTLE_ACCOUNT", None)
        gs = [sys.executable, "-m", "gpusettle.cli"]
        oracle = ManagedProcess(
            "oracle",
            [
                *gs,
                "oracle",
                "run",
                "--account",
                f"dev:{ORACLE_DEV_INDEX}",
                "--data-dir",
                str(state / "oracle"),
                "--port",
                str(oracle_port),
                "--batch-wait",
                "0.1",
            ],
            logs / "oracle.log",
            env,
        ).start()
        stack.processes.append(oracle)
        _wait_http(oracle_url + "/health", oracle, 60.0)
        c.info(f"oracle        {oracle_url} (dev:{ORACLE_DEV_INDEX}, log {oracle.log_path})")
        offer_id = None
        if not no_worker:
            offer_id = _provider_setup(c, client, accounts, price, simulate_gpus)
            worker_argv = [
                *gs,
                "worker",
                "run",
                "--account",
                "worker",
                "--provider",
                "provider",
                "--data-dir",
                str(state / "worker"),
            ]
            if simulate_gpus:
                worker_argv += ["--simulate-gpus", str(simulate_gpus)]
            if allow_command:
                worker_argv.append("--allow-command")
            worker = ManagedProcess(
                "worker", worker_argv, logs / "worker.log", {**env, "GPUSETTLE_PASSWORD": password}
            ).start()
            stack.processes.append(worker)
            runs = (
                "matmul and sandboxed command jobs"
                if allow_command
                else "matmul jobs; programs: off (start with --allow-command)"
            )
            c.info(f"worker        serving offer {offer_id} for provider, {runs} (log {worker.log_path})")
        _print_ready(c, rpc_url, oracle_url, record_path, accounts, offer_id)
        while not stopping:
            for proc in stack.processes:
                if not proc.alive():
                    raise GpusettleError(
                        f"the {proc.name} stopped unexpectedly; the end of its log ({proc.log_path}):\n"
                        + proc.tail(15),
                        "fix what the log says and run `gpusettle dev up` again",
                    )
            time.sleep(0.3)
        c.info(f"signal {stopping[0]}: stopping the worker, the oracle and anvil")
    finally:
        stack.stop()
        for s, handler in old.items():
            signal.signal(s, handler)
    c.info("stopped")


def _stack_password(c: Ctx) -> str:
    store = c.keystore
    missing = [alias for alias, *_ in DEV_ACCOUNTS if not store.exists(alias)]
    label = (
        f"Password for the new accounts {', '.join(missing)}"
        if missing
        else "Password of the accounts provider, worker and client"
    )
    return c.password(label, confirm=bool(missing))


def _wait_chain(c: Ctx, anvil: ManagedProcess) -> Any:
    deadline = time.monotonic() + 30
    while True:
        try:
            return c.settings.chain()
        except GpusettleError:
            if not anvil.alive() or time.monotonic() > deadline:
                raise GpusettleError(
                    f"anvil did not start; the end of its log:\n{anvil.tail(10)}",
                    "check that node_modules/.bin/anvil exists (`make setup`)",
                ) from None
            time.sleep(0.1)


def _wait_http(url: str, proc: ManagedProcess, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise GpusettleError(f"the {proc.name} exited; the end of its log:\n{proc.tail(15)}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise GpusettleError(f"the {proc.name} did not answer at {url} within {timeout:.0f} s")


def _deploy(c: Ctx) -> tuple[Gpusettle, Path]:
    from ..chain.client import Gpusettle
    from ..deploy.core import Roles, deploy_suite, record_path

    chain = c.chain()
    path = record_path(chain.chain_id, c.deployments())
    if path.exists():
        # A record of an earlier local chain: that chain is gone with its anvil (and such records are
        # never committed), so it describes nothing any more.
        path.unlink()
    deployer = c.dev_address(0)
    result = deploy_suite(
        chain,
        c.network,
        deployer,
        roles=Roles.defaults(deployer, oracles=[c.dev_address(ORACLE_DEV_INDEX)]),
        deployments_dir=path.parent,
        assume_yes=True,
        echo=lambda _line: None,
    )
    c.info(f"deployed      escrow {result.record.addresses['escrow']} (record {result.path})")
    client = Gpusettle.connect(chain.rpc_url, result.record)
    c._client = client
    c._chain = client.chain
    return client, result.path


def _accounts(c: Ctx, client: Gpusettle, password: str) -> dict[str, LocalAccount]:
    store = c.keystore
    deployer = c.dev_address(0)
    out: dict[str, LocalAccount] = {}
    for alias, _, eth, tokens in DEV_ACCOUNTS:
        if not store.exists(alias):
            store.new(alias, password)
        out[alias] = store.unlock(alias, password)
        address = out[alias].address
        client.send(
            client.chain.plan(f"fund {alias}", deployer, to=address, data="0x", value=eth * E18), deployer
        )
        if tokens:
            client.send(
                client.plan_transfer(deployer, address, tokens * E18, f"fund {alias}"),
                deployer,
            )
    c.info("funded        " + ", ".join(f"{a} ({e} ETH, {t} GPUC)" for a, _, e, t in DEV_ACCOUNTS))
    return out


def _provider_setup(
    c: Ctx, client: Gpusettle, accounts: dict[str, LocalAccount], price: str, simulate_gpus: int | None
) -> int:
    from ..worker.preflight import this_machine

    provider, worker = accounts["provider"], accounts["worker"]
    stake = 1_000 * E18
    client.send(client.plan_approve(provider.address, client.staking.address, stake, "approve"), provider)
    client.send(client.plan_stake(provider.address, stake), provider)
    client.send(client.plan_set_worker(provider.address, worker.address), provider)
    hw = this_machine(simulate_gpus)
    out = client.send(
        client.plan_add_offer(
            provider.address, hw.model, hw.count, hw.memory_gb, parse_price(price, client.decimals), ""
        ),
        provider,
    )
    offer_id = int(out.event("OfferAdded").args["offerId"])
    c.info(
        f"provider      staked 1000 GPUC, worker key set, offer {offer_id}: {hw.count} x {hw.model} "
        f"({hw.memory_gb} GB) at {format_price(parse_price(price, client.decimals), client.decimals, 'GPUC')}"
    )
    return offer_id


def _print_ready(
    c: Ctx,
    rpc_url: str,
    oracle_url: str,
    record: Path,
    accounts: dict[str, LocalAccount],
    offer_id: int | None,
) -> None:
    lines = [
        "",
        "ready: a local gpusettle stack",
        f"  chain       {rpc_url} (chain id 31337)",
        f"  contracts   {record}",
        f"  oracle      {oracle_url}",
        f"  offer       {offer_id if offer_id is not None else '(none: --no-worker)'}",
        f"  key store   {c.settings.keystore_dir()}",
        "accounts (use them with --account ALIAS):",
    ]
    for alias, role, *_ in DEV_ACCOUNTS:
        lines.append(f"  {alias:<10}  {accounts[alias].address}  {role}")
    lines.append(
        f"  dev:0       {c.dev_address(0)}  governance, guardian, arbiter, treasury; `dev fund` sends from it"
    )
    lines.append(f"  dev:{ORACLE_DEV_INDEX}       {c.dev_address(ORACLE_DEV_INDEX)}  the oracle")
    from ..settings import DEV_ORACLE_URL

    moved = [
        f"{env}={url}"
        for env, url, default in (
            ("GPUSETTLE_RPC_URL", rpc_url, "http://127.0.0.1:8545"),
            ("GPUSETTLE_ORACLE_URL", oracle_url, DEV_ORACLE_URL),
        )
        if url.rstrip("/") != default
    ]
    if moved:
        # Other terminals look for the default ports unless told otherwise.
        lines.append(f"in other terminals, first: export {' '.join(moved)}")
    lines.append("Ctrl-C stops everything.")
    click.echo("\n".join(lines), err=False)
    sys.stdout.flush()
