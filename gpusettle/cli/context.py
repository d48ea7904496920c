"""What every gpusettle command shares: options, accounts, the connection, output and sending."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from ..chain.client import Gpusettle
from ..chain.tx import Chain, Signer, TxOutcome, TxPlan, sender_address
from ..deploy.core import default_deployments_dir, record_path
from ..deploy.networks import Network, get_network
from ..errors import ConfigError, KeystoreError
from ..keystore import Keystore, resolve_password
from ..models import DeploymentRecord
from ..units import to_base_units

__all__ = [
    "ADDRESS",
    "Ctx",
    "get_ctx",
    "parse_address",
    "shared_options",
]

F = TypeVar("F", bound=Callable[..., Any])

NETWORK_ENV = "GPUSETTLE_NETWORK"
ACCOUNT_ENV = "GPUSETTLE_ACCOUNT"
RPC_URL_ENV = "GPUSETTLE_RPC_URL"
DEPLOYMENTS_ENV = "GPUSETTLE_DEPLOYMENTS"

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DEV_ACCOUNT = re.compile(r"dev:(\d+)")


@dataclass
class Ctx:
    """Options collected from the root group and the command itself (the command's win)."""

    network_name: str | None = None
    account: str | None = None
    yes: bool = False
    json: bool = False
    password_file: str | None = None
    rpc_url: str | None = None
    deployments_dir: str | None = None
    _keystore: Keystore | None = field(default=None, repr=False)
    _client: Gpusettle | None = field(default=None, repr=False)
    _chain: Chain | None = field(default=None, repr=False)
    _signer: Signer | None = field(default=None, repr=False)

    # -- configuration ---------------------------------------------------------------------------------

    @property
    def network(self) -> Network:
        """The chosen network (default development)."""
        return get_network(self.network_name or os.environ.get(NETWORK_ENV) or "development")

    @property
    def keystore(self) -> Keystore:
        """The account store ($GPUSETTLE_HOME/keystores)."""
        if self._keystore is None:
            self._keystore = Keystore()
        return self._keystore

    def deployments(self) -> Path:
        """The directory holding deployment records."""
        d = self.deployments_dir or os.environ.get(DEPLOYMENTS_ENV)
        return Path(d).expanduser() if d else default_deployments_dir()

    def resolved_rpc_url(self) -> str:
        """--rpc-url, else $GPUSETTLE_RPC_URL, else the network's own variable (or local default)."""
        return self.network.rpc_url(self.rpc_url or os.environ.get(RPC_URL_ENV) or None)

    # -- connections -----------------------------------------------------------------------------------

    def chain(self) -> Chain:
        """A connection checked against the network's chain id."""
        if self._chain is None:
            net = self.network
            self._chain = Chain.connect(
                self.resolved_rpc_url(), expected_chain_id=net.chain_id, network=net.name
            )
        return self._chain

    def client(self) -> Gpusettle:
        """The client over this network's deployment record."""
        if self._client is None:
            chain = self.chain()
            path = record_path(chain.chain_id, self.deployments())
            if not path.is_file():
                raise ConfigError(
                    f"no deployment record for network {self.network.name!r} (looked for {path})",
                    "deploy first with `gpusettle deploy`, or pass --deployments-dir",
                )
            record = DeploymentRecord.load(path)
            if record.chain_id != chain.chain_id:
                from ..errors import WrongChainError

                raise WrongChainError(record.chain_id, chain.chain_id, record.network)
            client = Gpusettle(chain, record)
            if not chain.code(client.escrow.address):
                raise ConfigError(
                    f"no contract at the escrow address {client.escrow.address} of {path}",
                    "the chain was reset since the deployment: deploy again with `gpusettle deploy`",
                )
            client._refresh_decoder()
            self._client = client
        return self._client

    # -- accounts --------------------------------------------------------------------------------------

    def account_alias(self) -> str:
        """The --account value; ConfigError when none was given."""
        alias = self.account or os.environ.get(ACCOUNT_ENV)
        if not alias:
            raise ConfigError(
                "this command needs an account", "pass --account ALIAS (see `gpusettle wallet list`)"
            )
        return alias

    def password(self, label: str = "Password", *, confirm: bool = False) -> str:
        """The keystore password from --password-file, $GPUSETTLE_PASSWORD or a hidden prompt."""
        return ask_password(self.password_file, label=label, confirm=confirm)

    def signer(self) -> Signer:
        """The unlocked account that signs (a `dev:N` node account on development chains only)."""
        if self._signer is None:
            alias = self.account_alias()
            m = _DEV_ACCOUNT.fullmatch(alias)
            if m:
                if not self.network.development:
                    raise ConfigError(
                        f"{alias} names an account unlocked by a local node; network {self.network.name!r} is live",
                        "use a keystore account: --account ALIAS",
                    )
                accounts = self.chain().rpc(lambda: self.chain().w3.eth.accounts)
                index = int(m.group(1))
                if index >= len(accounts):
                    raise ConfigError(
                        f"the node has only {len(accounts)} unlocked accounts", "use dev:0 .. dev:9"
                    )
                self._signer = to_checksum_address(accounts[index])
            else:
                address = self.keystore.address(alias)  # UnknownAccountError before asking for a password
                self.info(f"unlocking {alias} ({address})")
                self._signer = self.keystore.unlock(alias, self.password(f"Password for {alias}"))
        return self._signer

    def local_signer(self, why: str) -> LocalAccount:
        """The signer as a local key (needed to sign permits)."""
        s = self.signer()
        if isinstance(s, str):
            raise ConfigError(f"{why} needs a local key, not a node-unlocked account", "use --account ALIAS")
        return s

    def address(self) -> str:
        """The chosen account's address, without unlocking it."""
        alias = self.account_alias()
        if _DEV_ACCOUNT.fullmatch(alias):
            return sender_address(self.signer())
        return self.keystore.address(alias)

    def resolve_address(self, value: str) -> str:
        """An address, or the alias of an account in the store, as a checksummed address."""
        if _HEX_ADDRESS.fullmatch(value):
            return parse_address(value)
        if _DEV_ACCOUNT.fullmatch(value):
            accounts = self.chain().rpc(lambda: self.chain().w3.eth.accounts)
            return to_checksum_address(accounts[int(value[4:])])
        try:
            if self.keystore.exists(value):
                return self.keystore.address(value)
        except KeystoreError:
            pass
        return parse_address(value)

    # -- output ----------------------------------------------------------------------------------------

    def info(self, text: str) -> None:
        """Progress text: stderr, so that --json output stays clean."""
        click.echo(text, err=True)

    def emit(self, data: dict[str, Any], human: Callable[[], None] | str | None = None) -> None:
        """The result: JSON on stdout with --json, else `human` (text or a function that prints)."""
        if self.json:
            click.echo(json.dumps(_jsonable(data), indent=2, sort_keys=True))
        elif callable(human):
            human()
        elif human is not None:
            click.echo(human)

    # -- sending ---------------------------------------------------------------------------------------

    def send(self, plan: TxPlan, *, what: str | None = None) -> TxOutcome:
        """Show the plan, ask unless --yes, send, wait, report the hash and the outcome.

        Needs no deployment record: a plain ETH transfer goes through here too.
        """
        chain = self.chain()  # the same connection the contract client uses, when there is one
        self.info(plan.describe())
        chain.check_gas_funds(plan)
        if not self.yes and not click.confirm("Send this transaction?", default=False, err=True):
            raise click.Abort()
        confirmations = self.network.settings.confirmations
        tx_hash = chain.submit(plan, self.signer())
        self.info(f"sent {tx_hash}; waiting for {max(confirmations, 1)} confirmation(s)")
        outcome = chain.wait(tx_hash, plan, confirmations=max(confirmations, 1))
        self.info(
            f"{what or 'done'}: tx {outcome.tx_hash} mined in block {outcome.block_number}, "
            f"gas used {outcome.gas_used:,}"
        )
        return outcome

    def amount(self, text: str) -> int:
        """A human token amount as base units, checked against the token's decimals."""
        return to_base_units(text, self.client().decimals)


def ask_password(
    password_file: str | None, *, label: str, confirm: bool = False, environ: dict[str, str] | None = None
) -> str:
    """resolve_password, prompting on stdin even when it is a pipe; an empty stdin is a KeystoreError."""
    try:
        return resolve_password(
            None, password_file, label=label, confirm=confirm, environ=environ, interactive=True
        )
    except click.Abort:
        raise KeystoreError(
            f"{label.lower()} is needed but none was given",
            "type it at the prompt, or pass --password-file PATH or set GPUSETTLE_PASSWORD",
        ) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)
    return value


def parse_address(value: str) -> str:
    """A checksummed address; ConfigError for malformed input or a wrong EIP-55 checksum."""
    if not _HEX_ADDRESS.fullmatch(value):
        raise ConfigError(
            f"{value!r} is not an address or a known account alias",
            "give 0x followed by 40 hex digits, or the alias of an account in `gpusettle wallet list`",
        )
    checksummed = to_checksum_address(value)
    if value != checksummed and value[2:] != value[2:].lower():
        raise ConfigError(
            f"{value} has a wrong EIP-55 checksum (expected {checksummed})",
            "check the address for a typo; copy it again from its source",
        )
    return checksummed


class _AddressType(click.ParamType[str, Any]):
    name = "ADDRESS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not isinstance(value, str):
            self.fail(f"{value!r} is not an address", param, ctx)
        try:
            return parse_address(value)
        except ConfigError as exc:
            self.fail(f"{exc.message}; {exc.hint}", param, ctx)


ADDRESS = _AddressType()
"""A click parameter type for a checksummed address."""


def get_ctx() -> Ctx:
    """The Ctx of the running command (created on the root context)."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, Ctx):
        root.obj = Ctx()
    return root.obj


def _setter(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None or value is False:
            return
        obj = ctx.find_root().obj
        if not isinstance(obj, Ctx):
            obj = ctx.find_root().obj = Ctx()
        setattr(obj, attr, value)

    return callback


def shared_options(f: F) -> F:
    """--network, --account, --yes, --json, --password-file, --rpc-url, --deployments-dir."""
    options = [
        click.option(
            "--network",
            "-n",
            expose_value=False,
            callback=_setter("network_name"),
            help=f"Network: development, sepolia, base-sepolia, arbitrum-sepolia (default ${NETWORK_ENV} or development).",
        ),
        click.option(
            "--account",
            "-a",
            expose_value=False,
            callback=_setter("account"),
            help=f"Account alias from `gpusettle wallet list` (default ${ACCOUNT_ENV}); dev:N for a local node's account N.",
        ),
        click.option(
            "--yes",
            "-y",
            is_flag=True,
            expose_value=False,
            callback=_setter("yes"),
            help="Do not ask before sending.",
        ),
        click.option(
            "--json",
            "json_",
            is_flag=True,
            expose_value=False,
            callback=_setter("json"),
            help="Machine-readable output.",
        ),
        click.option(
            "--password-file",
            type=click.Path(dir_okay=False),
            expose_value=False,
            callback=_setter("password_file"),
            help="File holding the account password (else $GPUSETTLE_PASSWORD, else a hidden prompt).",
        ),
        click.option(
            "--rpc-url",
            expose_value=False,
            callback=_setter("rpc_url"),
            help=f"RPC URL (default ${RPC_URL_ENV}, else the network's own variable).",
        ),
        click.option(
            "--deployments-dir",
            type=click.Path(file_okay=False),
            expose_value=False,
            callback=_setter("deployments_dir"),
            help=f"Directory of deployment records (default ${DEPLOYMENTS_ENV} or ./deployments).",
        ),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def parse_duration_or_time(text: str, now: int) -> int:
    """A deadline: unix seconds, an ISO date-time (UTC unless it says otherwise), or a duration from
    now such as 90s, 30m, 2h, 1d."""
    t = text.strip()
    m = re.fullmatch(r"(\d+)\s*([smhd])", t)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return now + n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if t.isdigit():
        return int(t)
    from datetime import datetime

    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise ConfigError(
            f"cannot read {text!r} as a time",
            "write a duration such as 2h or 1d, unix seconds, or an ISO date-time",
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def fmt_time(ts: int, now: int | None = None) -> str:
    """Unix time as UTC text, with how far away it is."""
    if ts == 0:
        return "-"
    text = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
    if now is None:
        return text
    delta = ts - now
    span = _span(abs(delta))
    return f"{text} ({'in ' + span if delta > 0 else span + ' ago' if delta < 0 else 'now'})"


def _span(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
