"""What every gpusettle command shares: options, accounts, the connection, output and sending.

Kept light to import (click and the standard library at the top): `gpusettle --help` loads only this.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import ConfigError, InsufficientFundsError, KeystoreError
from ..text import strip_controls
from ..units import format_units, to_base_units

if TYPE_CHECKING:
    from pathlib import Path

    from eth_account.signers.local import LocalAccount

    from ..chain.client import Gpusettle
    from ..chain.tx import Chain, Signer, TxOutcome, TxPlan
    from ..deploy.networks import Network
    from ..keystore import Keystore
    from ..settings import Settings

__all__ = [
    "ADDRESS",
    "HTTP_URL",
    "Ctx",
    "get_ctx",
    "parse_address",
    "require_tokens",
    "shared_options",
]

F = TypeVar("F", bound=Callable[..., Any])

NETWORK_ENV = "GPUSETTLE_NETWORK"
ACCOUNT_ENV = "GPUSETTLE_ACCOUNT"
RPC_URL_ENV = "GPUSETTLE_RPC_URL"
DEPLOYMENTS_ENV = "GPUSETTLE_DEPLOYMENTS"

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DEV_ACCOUNT = re.compile(r"dev:(\d+)")


def stdin_is_terminal() -> bool:
    """Whether a person can answer a prompt (tests replace this)."""
    return sys.stdin.isatty()


def confirm(question: str, *, yes: bool) -> bool:
    """Ask `question` unless `yes`; without a terminal, refuse before asking (ConfigError: use --yes)."""
    if yes:
        return True
    if not stdin_is_terminal():
        raise ConfigError(
            f"cannot ask {question!r}: there is no terminal to answer on",
            "pass --yes (or set GPUSETTLE_YES=1) to confirm without a prompt",
        )
    return bool(click.confirm(question, default=False, err=True))


@dataclass
class Ctx:
    """Options collected from the root group and the command itself (the command's win), resolved
    through `gpusettle.settings.Settings` (options over environment over the config file)."""

    network_name: str | None = None
    account: str | None = None
    yes: bool = False
    json: bool = False
    password_file: str | None = None
    rpc_url: str | None = None
    deployments_dir: str | None = None
    deployment: str | None = None
    keystore_dir: str | None = None
    oracle_url: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _keystore: Keystore | None = field(default=None, repr=False)
    _client: Gpusettle | None = field(default=None, repr=False)
    _chain: Chain | None = field(default=None, repr=False)
    _signer: Signer | None = field(default=None, repr=False)

    # -- configuration ---------------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The resolved settings (loaded on first use, after every option was parsed)."""
        if self._settings is None:
            from ..settings import Settings

            self._settings = Settings.load(
                {
                    "network": self.network_name,
                    "account": self.account,
                    "yes": self.yes,
                    "password_file": self.password_file,
                    "rpc_url": self.rpc_url,
                    "deployments_dir": self.deployments_dir,
                    "deployment": self.deployment,
                    "keystore": self.keystore_dir,
                    "oracle_url": self.oracle_url,
                }
            )
            s = self._settings
            self.yes = s.yes
            self.account = s.account
            self.password_file = str(s.password_file) if s.password_file else None
        return self._settings

    @property
    def network(self) -> Network:
        """The chosen network (default development)."""
        return self.settings.network_info()

    @property
    def keystore(self) -> Keystore:
        """The account store ($GPUSETTLE_HOME/keystores unless --keystore)."""
        if self._keystore is None:
            self._keystore = self.settings.open_keystore()
        return self._keystore

    def deployments(self) -> Path:
        """The directory holding deployment records."""
        return self.settings.deployments()

    def resolved_rpc_url(self) -> str:
        """--rpc-url, else $GPUSETTLE_RPC_URL, else the config file, else the network's own variable."""
        return self.settings.resolved_rpc_url()

    def oracle(self) -> str:
        """The oracle URL; ConfigError when none is configured."""
        url = self.settings.resolved_oracle_url()
        if not url:
            raise ConfigError(
                f"no oracle URL for network {self.network.name!r}",
                "pass --oracle-url URL or set GPUSETTLE_ORACLE_URL",
            )
        return url

    # -- connections -----------------------------------------------------------------------------------

    def chain(self) -> Chain:
        """A connection checked against the network's chain id (the client's, once there is one)."""
        if self._chain is None:
            self._chain = self.settings.chain()
        return self._chain

    def client(self) -> Gpusettle:
        """The client over this network's deployment record (`Settings.connect`)."""
        if self._client is None:
            self._client = self.settings.connect(self.chain())
            # Sends go through the client's connection: it decodes the contracts' errors.
            self._chain = self._client.chain
        return self._client

    # -- accounts --------------------------------------------------------------------------------------

    def account_alias(self) -> str:
        """The --account value; ConfigError when none was given."""
        alias = self.settings.account
        if not alias:
            raise ConfigError(
                "this command needs an account", "pass --account ALIAS (see `gpusettle wallet list`)"
            )
        return alias

    def password(self, label: str = "Password", *, confirm: bool = False) -> str:
        """The keystore password from --password-file, $GPUSETTLE_PASSWORD or a hidden prompt."""
        _ = self.settings
        return ask_password(self.password_file, label=label, confirm=confirm)

    def dev_address(self, index: int) -> str:
        """The local node's account `index` (development chains only)."""
        from eth_utils.address import to_checksum_address

        if not self.network.development:
            raise ConfigError(
                f"dev:{index} names an account unlocked by a local node; network {self.network.name!r} is live",
                "use a keystore account: --account ALIAS",
            )
        accounts = self.chain().rpc(lambda: self.chain().w3.eth.accounts)
        if index >= len(accounts):
            raise ConfigError(f"the node has only {len(accounts)} unlocked accounts", "use dev:0 .. dev:9")
        return str(to_checksum_address(accounts[index]))

    def signer(self) -> Signer:
        """The unlocked account that signs (a `dev:N` node account on development chains only)."""
        if self._signer is None:
            alias = self.account_alias()
            m = _DEV_ACCOUNT.fullmatch(alias)
            if m:
                self._signer = self.dev_address(int(m.group(1)))
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
        m = _DEV_ACCOUNT.fullmatch(alias)
        if m:
            return self.dev_address(int(m.group(1)))
        return self.keystore.address(alias)

    def resolve_address(self, value: str) -> str:
        """An address, an alias of an account in the store, or dev:N, as a checksummed address."""
        if _HEX_ADDRESS.fullmatch(value):
            return parse_address(value)
        m = _DEV_ACCOUNT.fullmatch(value)
        if m:
            return self.dev_address(int(m.group(1)))
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
        """The result: JSON on stdout with --json, else `human` (text or a function that prints).

        In JSON every token amount is a string of base units (see `amount_fields`)."""
        if self.json:
            click.echo(json.dumps(_jsonable(data), indent=2, sort_keys=True))
        elif callable(human):
            human()
        elif human is not None:
            click.echo(human)

    # -- sending ---------------------------------------------------------------------------------------

    def confirm(self, question: str) -> bool:
        """`confirm` with this command's --yes."""
        return confirm(question, yes=self.settings.yes)

    def send(self, plan: TxPlan, *, what: str | None = None, asked: bool = False) -> TxOutcome:
        """Show the plan, ask unless --yes (or `asked`: the caller asked already), send, wait, report.

        Needs no deployment record: a plain ETH transfer goes through here too.
        """
        chain = self.chain()  # the same connection the contract client uses, when there is one
        if not asked:  # a caller that asked already showed the plan with its question
            self.info(plan.describe())
        chain.check_gas_funds(plan)
        if not asked and not self.confirm("Send this transaction?"):
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


def shown(text: str) -> str:
    """A string from the chain (a provider's GPU model or metadata URI) as the terminal gets it: control
    characters and bidirectional overrides removed. The provider chose those bytes; printed raw they could
    retitle the terminal, clear it, or hide the lines after them (a transaction's price and the prompt)."""
    return strip_controls(text)


def ask_password(
    password_file: str | None,
    *,
    label: str,
    confirm: bool = False,
    environ: dict[str, str] | None = None,
    hint: str = "type it at the prompt, or pass --password-file PATH or set GPUSETTLE_PASSWORD",
) -> str:
    """resolve_password, prompting on stdin even when it is a pipe; an empty stdin is a KeystoreError (`hint`
    says what else gives the password)."""
    from ..keystore import resolve_password

    try:
        return resolve_password(
            None, password_file, label=label, confirm=confirm, environ=environ, interactive=True
        )
    except click.Abort:
        raise KeystoreError(f"{label.lower()} is needed but none was given", hint) from None


AMOUNT_KEYS = frozenset(
    {
        "amount",
        "balance",
        "bonded",
        "unbonding",
        "locked_collateral",
        "free",
        "min_stake",
        "earnings",
        "total_slashed",
        "deposit",
        "collateral",
        "refund",
        "refunded",
        "refundable",
        "slashed",
        "withdrawn",
        "price_per_gpu_second",
        "fees",
        "accrued_fees",
        "dispute_bond",
        "eth_wei",
        "worker_eth",
        "paid",
        "payout",
        "fee",
        "value",
        "max_cost_wei",
        "bond",
        "compensation",
        "token_supply",
        "rate_per_second",
        "penalty",
        "penalties",
        "used",
        "budget",
        "left",
        "withheld_pay",
        "dispute_frozen",
        "lease_dispute_frozen",
        "lease_locked_collateral",
        "lease_earnings",
        "unstakeable",
        "value_paid",
        "collected",
        "still_owed",
        "this_job_collected",
        "this_job_still_owed",
        "fraud_debt",
        "bond_returned",
    }
)
"""Keys whose values are token (or wei) amounts: in --json always a decimal string of base units."""


def _jsonable(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, key) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, int) and not isinstance(value, bool) and (key in AMOUNT_KEYS or abs(value) >= 2**53):
        return str(value)
    return value


def require_tokens(client: Gpusettle, owner: str, amount: int, what: str = "") -> None:
    """InsufficientFundsError (with both amounts in tokens) unless `owner` holds `amount` base units;
    `what` follows the symbol in the message, e.g. " (for the dispute bond)"."""
    have = client.token_balance(owner)
    if have < amount:
        raise InsufficientFundsError(
            owner,
            format_units(amount, client.decimals),
            format_units(have, client.decimals),
            client.symbol + what,
        )


def parse_address(value: str) -> str:
    """A checksummed address; ConfigError for malformed input or a wrong EIP-55 checksum."""
    from eth_utils.address import to_checksum_address

    if not _HEX_ADDRESS.fullmatch(value):
        raise ConfigError(
            f"{value!r} is not an address or a known account alias",
            "give 0x followed by 40 hex digits, or the alias of an account in `gpusettle wallet list`",
        )
    checksummed = str(to_checksum_address(value))
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


RPC_URL_EXAMPLE = "http://127.0.0.1:8545"
"""An RPC node's URL as the error about a malformed --rpc-url shows it (anvil's default)."""
ORACLE_URL_EXAMPLE = "http://127.0.0.1:8700"
"""The development oracle's URL, the example for the other http(s) options."""


def check_http_url(text: str, example: str = ORACLE_URL_EXAMPLE) -> str | None:
    """Why `text` is not an http(s) URL with a valid port, or None (`example` shows a good one)."""
    if not re.fullmatch(r"https?://[^\s/:]+(:\d{1,5})?(/\S*)?", text):
        return f"{text!r} is not an http(s) URL, e.g. {example}"
    port = re.search(r"://[^/:]+:(\d+)", text)
    if port and not 1 <= int(port.group(1)) <= 65535:
        return f"port {port.group(1)} in {text!r} is outside 1-65535"
    return None


class _HttpUrl(click.ParamType[str, Any]):
    name = "URL"

    def __init__(self, example: str = ORACLE_URL_EXAMPLE) -> None:
        self.example = example

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().rstrip("/")
        problem = check_http_url(text, self.example)
        if problem:
            self.fail(problem, param, ctx)
        return text


HTTP_URL = _HttpUrl()
"""A click parameter type for an http(s) URL."""
RPC_URL = _HttpUrl(RPC_URL_EXAMPLE)
"""A click parameter type for a JSON-RPC node's http(s) URL."""


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
    """The settings every command takes (see gpusettle.settings.SETTINGS), plus --json."""
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
            type=RPC_URL,
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
        click.option(
            "--deployment",
            type=click.Path(dir_okay=False),
            expose_value=False,
            callback=_setter("deployment"),
            help="One deployment record file (default $GPUSETTLE_DEPLOYMENT, else looked up by chain id).",
        ),
        click.option(
            "--keystore",
            type=click.Path(file_okay=False),
            expose_value=False,
            callback=_setter("keystore_dir"),
            help="Key store directory (default $GPUSETTLE_KEYSTORE, else $GPUSETTLE_HOME/keystores).",
        ),
        click.option(
            "--oracle-url",
            type=HTTP_URL,
            expose_value=False,
            callback=_setter("oracle_url"),
            help="The oracle's URL (default $GPUSETTLE_ORACLE_URL; http://127.0.0.1:8700 on development).",
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
