"""One configuration for every gpusettle command, the worker and oracle daemons included.

Each setting comes from, first found wins: the command-line option, the environment variable, the
config file (`$GPUSETTLE_HOME/config.toml`, flat `key = value` lines), the default. `SETTINGS` is the
one table of them; the README's configuration table is checked against it by a test.

From the settings follow, in this order: the network (its chain id), the RPC URL, the deployment record
for that chain id, the contract client; and the key store, where account aliases live. An alias `dev:N`
names a local node's account N and is accepted on development chains only.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .errors import ConfigError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from .chain.client import Gpusettle
    from .chain.tx import Chain
    from .deploy.networks import Network
    from .keystore import Keystore
    from .models import DeploymentRecord

__all__ = [
    "AVAILABILITY_FILE",
    "CONFIG_FILE",
    "DEV_MNEMONIC",
    "HOME_ENV",
    "SETTINGS",
    "WEEKDAYS",
    "AvailabilitySettings",
    "AvailabilityWindow",
    "Setting",
    "Settings",
    "dev_account_index",
    "home_dir",
    "load_availability",
    "save_availability",
]

HOME_ENV = "GPUSETTLE_HOME"
CONFIG_FILE = "config.toml"
DEV_ORACLE_URL = "http://127.0.0.1:8700"
# anvil's, hardhat's and ganache's public test mnemonic: its keys hold value on local chains only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
_DEV_ACCOUNT = re.compile(r"dev:(\d+)")


@dataclass(frozen=True)
class Setting:
    """One row of the configuration table."""

    name: str
    """Attribute of `Settings` (and the config file key)."""
    option: str
    """Command-line option."""
    env: str
    """Environment variable."""
    default: str
    """The default, in words."""
    help: str
    """What it is for."""


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "network",
        "--network",
        "GPUSETTLE_NETWORK",
        "development",
        "development, sepolia, base-sepolia or arbitrum-sepolia: fixes the chain id",
    ),
    Setting(
        "rpc_url",
        "--rpc-url",
        "GPUSETTLE_RPC_URL",
        "the network's variable (GPUSETTLE_DEV_RPC_URL, SEPOLIA_RPC_URL, ...); http://127.0.0.1:8545 for development",
        "JSON-RPC endpoint; it must serve the network's chain id",
    ),
    Setting(
        "deployments_dir",
        "--deployments-dir",
        "GPUSETTLE_DEPLOYMENTS",
        "./deployments",
        "where deployment records `<chain id>.json` live",
    ),
    Setting(
        "deployment",
        "--deployment",
        "GPUSETTLE_DEPLOYMENT",
        "DEPLOYMENTS_DIR/CHAIN_ID.json",
        "one deployment record file, instead of looking it up by chain id",
    ),
    Setting(
        "keystore",
        "--keystore",
        "GPUSETTLE_KEYSTORE",
        "$GPUSETTLE_HOME/keystores",
        "directory of encrypted account keyfiles",
    ),
    Setting(
        "account",
        "--account",
        "GPUSETTLE_ACCOUNT",
        "none",
        "account alias that signs; dev:N is a local node's account N",
    ),
    Setting(
        "password_file",
        "--password-file",
        "GPUSETTLE_PASSWORD_FILE",
        "none: $GPUSETTLE_PASSWORD, else a hidden prompt",
        "file holding the account's password",
    ),
    Setting(
        "oracle_url",
        "--oracle-url",
        "GPUSETTLE_ORACLE_URL",
        f"{DEV_ORACLE_URL} on development chains, else none",
        "the oracle: receipts, job specs and results",
    ),
    Setting("yes", "--yes", "GPUSETTLE_YES", "false", "send without asking"),
)
"""Every setting: option, environment variable, config key (its name), default."""

_NAMES = {s.name for s in SETTINGS}


def home_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$GPUSETTLE_HOME`, else `~/.gpusettle`."""
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV, "").strip()
    return Path(home).expanduser() if home else Path.home() / ".gpusettle"


def dev_account_index(alias: str) -> int | None:
    """N for an alias `dev:N`, else None."""
    m = _DEV_ACCOUNT.fullmatch(alias)
    return int(m.group(1)) if m else None


class Settings(BaseModel):
    """The resolved configuration of one command."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(description="$GPUSETTLE_HOME.")
    """$GPUSETTLE_HOME: the key store, the config file and the daemons' data live under it."""
    network: str = Field(default="development", description="Network name.")
    """The network name; it fixes the chain id every connection is checked against."""
    rpc_url: str | None = Field(default=None, description="RPC URL override.")
    """The RPC URL; None means the network's own variable or default."""
    deployments_dir: Path | None = Field(default=None, description="Deployment records directory.")
    """Directory of deployment records; None means ./deployments (or the checkout's)."""
    deployment: Path | None = Field(default=None, description="One deployment record file.")
    """One deployment record, used instead of looking one up by chain id."""
    keystore: Path | None = Field(default=None, description="Key store directory.")
    """Key store directory; None means $GPUSETTLE_HOME/keystores."""
    account: str | None = Field(default=None, description="Signing account alias.")
    """The alias of the account that signs (or `dev:N` on a local chain)."""
    password_file: Path | None = Field(default=None, description="Password file.")
    """File holding the account's password."""
    oracle_url: str | None = Field(default=None, description="Oracle URL.")
    """The oracle's base URL; None means the development default on local chains."""
    yes: bool = Field(default=False, description="Send without asking.")
    """Send transactions without asking."""

    @field_validator("rpc_url", "oracle_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        from .cli.context import ORACLE_URL_EXAMPLE, RPC_URL_EXAMPLE, check_http_url

        if value is None:
            return None
        example = RPC_URL_EXAMPLE if info.field_name == "rpc_url" else ORACLE_URL_EXAMPLE
        problem = check_http_url(value.strip().rstrip("/"), example)
        if problem:
            raise ValueError(problem)
        return value.strip().rstrip("/")

    # -- loading -------------------------------------------------------------------------------------

    @classmethod
    def load(
        cls, options: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Options over environment over `$GPUSETTLE_HOME/config.toml` over defaults; ConfigError for a
        bad config file or value."""
        env = os.environ if environ is None else environ
        home = home_dir(env)
        values: dict[str, Any] = dict(_read_config(home / CONFIG_FILE))
        for s in SETTINGS:
            raw = env.get(s.env, "").strip()
            if raw:
                values[s.name] = raw
        for name, value in (options or {}).items():
            if name not in _NAMES:
                raise KeyError(name)
            if value is not None and value is not False:
                values[name] = value
        if isinstance(values.get("yes"), str):
            values["yes"] = values["yes"].lower() in ("1", "true", "yes", "on")
        try:
            return cls(home=home, **values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(
                f"invalid configuration: {problems}", f"fix the value (options, environment or {CONFIG_FILE})"
            ) from None

    # -- what follows from them ----------------------------------------------------------------------

    def network_info(self) -> Network:
        """The network (ConfigError for an unknown name)."""
        from .deploy.networks import get_network

        return get_network(self.network)

    def resolved_rpc_url(self) -> str:
        """The RPC URL: the setting, else the network's variable, else its local default."""
        return self.network_info().rpc_url(self.rpc_url)

    def resolved_oracle_url(self) -> str | None:
        """The oracle URL: the setting, else the local default on development chains."""
        if self.oracle_url:
            return self.oracle_url.rstrip("/")
        return DEV_ORACLE_URL if self.network_info().development else None

    def keystore_dir(self) -> Path:
        """The key store directory."""
        return self.keystore.expanduser() if self.keystore else self.home / "keystores"

    def open_keystore(self) -> Keystore:
        """The key store."""
        from .keystore import Keystore

        return Keystore(self.keystore_dir())

    def record_path(self, chain_id: int) -> Path:
        """The deployment record for `chain_id`: `deployment`, else `<deployments_dir>/<chain id>.json`."""
        if self.deployment is not None:
            return self.deployment.expanduser()
        from .deploy.core import default_deployments_dir, record_path

        directory = self.deployments_dir.expanduser() if self.deployments_dir else default_deployments_dir()
        return record_path(chain_id, directory)

    def deployments(self) -> Path:
        """The directory records are written to."""
        from .deploy.core import default_deployments_dir

        if self.deployment is not None:
            return self.deployment.expanduser().parent
        return self.deployments_dir.expanduser() if self.deployments_dir else default_deployments_dir()

    def chain(self) -> Chain:
        """A connection to the RPC URL, checked against the network's chain id."""
        from .chain.tx import Chain

        net = self.network_info()
        return Chain.connect(self.resolved_rpc_url(), expected_chain_id=net.chain_id, network=net.name)

    def load_record(self, chain_id: int) -> DeploymentRecord:
        """The deployment record for `chain_id`; ConfigError when there is none."""
        from .errors import WrongChainError
        from .models import DeploymentRecord

        path = self.record_path(chain_id)
        if not path.is_file():
            raise ConfigError(
                f"no deployment record for network {self.network!r} (looked for {path})",
                "deploy first with `gpusettle deploy` (or `gpusettle dev up` on a local chain), "
                "or pass --deployments-dir / --deployment",
            )
        record = DeploymentRecord.load(path)
        if record.chain_id != chain_id:
            raise WrongChainError(record.chain_id, chain_id, record.network)
        return record

    def connect(self, chain: Chain | None = None) -> Gpusettle:
        """The contract client: network -> RPC URL -> chain id -> deployment record -> Gpusettle.connect."""
        from .chain.abi import load_artifacts
        from .chain.client import Gpusettle

        chain = chain or self.chain()
        record = self.load_record(chain.chain_id)
        try:
            # The package's ABI files (200 KB), not brownie's build artifacts (6 MB, 0.4 s to parse).
            artifacts = load_artifacts(prefer_build=False)
        except ConfigError:
            artifacts = None
        return Gpusettle.connect(chain.rpc_url, record, artifacts=artifacts)

    def local_account(self, alias: str, label: str, chain: Chain | None = None) -> LocalAccount:
        """A key that signs off-chain (the worker's, the oracle's): a key store account, or `dev:N` on a
        development chain (derived from the public test mnemonic and checked against the node)."""
        index = dev_account_index(alias)
        if index is None:
            from .keystore import resolve_password

            store = self.open_keystore()
            store.address(alias)  # UnknownAccountError before asking for a password
            password = resolve_password(
                None,
                str(self.password_file) if self.password_file else None,
                label=f"Password for {label} account {alias!r}",
            )
            return store.unlock(alias, password)
        return dev_local_account(index, chain or self.chain(), self.network_info().development)


def dev_local_account(index: int, chain: Chain, development: bool) -> LocalAccount:
    """Account `dev:index` as a local key; ConfigError off development chains or when the node does not
    use the public test mnemonic."""
    from eth_account import Account

    if not development:
        raise ConfigError(
            f"dev:{index} names a local node's account; this network is live",
            "use a key store account: --account ALIAS",
        )
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    accounts = [str(a) for a in chain.rpc(lambda: chain.w3.eth.accounts)]
    if index >= len(accounts) or accounts[index].lower() != account.address.lower():
        raise ConfigError(
            f"the node's account {index} is not the test mnemonic's account {index} ({account.address})",
            "start anvil with its default mnemonic, or import the key: `gpusettle wallet import ALIAS --private-key`",
        )
    return account


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", 'fix the file (TOML: key = "value" lines)') from None
    unknown = sorted(set(data) - _NAMES)
    if unknown:
        raise ConfigError(
            f"{path} has unknown keys: {', '.join(unknown)}",
            f"the keys are: {', '.join(sorted(_NAMES))}",
        )
    return data


# -- the worker's availability: when this machine's GPUs are for rent (issue 11) ----------------------
#
# The file format is the worker's (gpusettle/worker/schedule.py on branch lw): flat TOML keys in
# $GPUSETTLE_HOME/availability.toml, windows as "DAYS HH:MM-HH:MM" strings, so `provider availability`
# writes exactly what the worker reads.

AVAILABILITY_FILE = "availability.toml"
"""Under $GPUSETTLE_HOME: one file per machine, since the owner's use is the machine's, not one worker's."""

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names in `datetime.weekday()` order."""

_WINDOW = re.compile(r"(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})")


def _minutes(text: str) -> int:
    hours, minutes = (int(p) for p in text.split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 1440:
        raise ValueError(f"{text!r} is not a time of day (HH:MM, 00:00 to 24:00)")
    return hours * 60 + minutes


def _days(text: str) -> frozenset[int]:
    if text in ("daily", "all"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in text.split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e not in WEEKDAYS for e in ends):
            raise ValueError(f"{part!r} is not a day or a day range (mon, tue, ..., sun; mon-fri; daily)")
        first, last = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
        out.update((first + k) % 7 for k in range((last - first) % 7 + 1))
    return frozenset(out)


@dataclass(frozen=True)
class AvailabilityWindow:
    """One weekly window when the GPUs are for rent: the days it starts on and its start and end
    (minutes after midnight). An end before the start runs past midnight into the next day."""

    days: frozenset[int]
    """Weekdays the window starts on (0 = Monday)."""
    start: int
    """Minutes after midnight."""
    end: int
    """Minutes after midnight (1440 = 24:00)."""

    @classmethod
    def parse(cls, text: str) -> AvailabilityWindow:
        """'mon-fri 19:00-07:00', 'sat,sun 00:00-24:00', 'daily 22:00-06:00'; ValueError otherwise."""
        m = _WINDOW.fullmatch(text.strip().lower())
        if m is None:
            raise ValueError(f"{text!r} is not a window: write DAYS HH:MM-HH:MM, e.g. 'mon-fri 19:00-07:00'")
        return cls(_days(m["days"]), _minutes(m["start"]), _minutes(m["end"]))

    def contains(self, weekday: int, minute: int) -> bool:
        """Whether the moment (weekday 0 = Monday, minute of the day) falls in this window, [start, end)."""
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        if self.start == self.end:
            return False
        # Past midnight: the evening part on the window's days, the morning part on the day after.
        return (weekday in self.days and minute >= self.start) or (
            (weekday - 1) % 7 in self.days and minute < self.end
        )

    def text(self) -> str:
        """The window as the settings file writes it ('mon,tue,wed 19:00-07:00')."""
        days = ",".join(WEEKDAYS[d] for d in sorted(self.days))
        return f"{days} {self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


class AvailabilitySettings(BaseModel):
    """When this machine's GPUs may be rented, and what counts as the owner using them.

    Kept in `$GPUSETTLE_HOME/availability.toml`; `gpusettle provider availability` shows and sets it, the
    worker reads it. Outside the schedule, or when the owner uses the GPUs, the worker pauses the
    provider's offers and (with `reclaim`) reclaims reclaimable and interruptible leases with their
    notice; it resumes the offers once the GPUs have been idle for `idle_minutes` inside the schedule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule: list[str] = Field(default_factory=list, description="Rentable windows; empty: always.")
    """Rentable windows, each "DAYS HH:MM-HH:MM" (days: mon..sun, ranges, lists, daily); empty: always."""
    timezone: str = Field(default="local", description="Time zone of the schedule.")
    """IANA time zone of the schedule ("Europe/Berlin", "UTC"), or "local" for this machine's."""
    owner_util_percent: float = Field(
        default=20.0, ge=0, le=100, description="Owner-use utilisation threshold."
    )
    """A GPU no job or lease holds that is busier than this (percent) is being used by its owner ..."""
    owner_minutes: float = Field(
        default=2.0, ge=0, description="Minutes of that utilisation before it counts."
    )
    """... once it has been for this many minutes (a GPU process the worker did not start counts at once)."""
    idle_minutes: float = Field(default=10.0, ge=0, description="Idle minutes before renting again.")
    """How long the GPUs must be idle (no owner use) before the offers are resumed."""
    reclaim: bool = Field(default=True, description="Reclaim leases when the owner needs the GPUs.")
    """Reclaim reclaimable and interruptible leases (with their notice) when renting stops."""

    @field_validator("schedule")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for text in value:
            AvailabilityWindow.parse(text)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != "local":
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"{value!r} is not a time zone (e.g. 'UTC', 'Europe/Berlin', or 'local')"
                ) from None
        return value

    def windows(self) -> list[AvailabilityWindow]:
        """The parsed schedule."""
        return [AvailabilityWindow.parse(w) for w in self.schedule]

    def in_schedule(self, at: float) -> bool:
        """Whether the moment `at` (Unix time) is inside the schedule."""
        if not self.schedule:
            return True
        if self.timezone == "local":
            moment = datetime.fromtimestamp(at).astimezone()
        else:
            from zoneinfo import ZoneInfo

            moment = datetime.fromtimestamp(at, ZoneInfo(self.timezone))
        minute = moment.hour * 60 + moment.minute
        return any(w.contains(moment.weekday(), minute) for w in self.windows())

    @classmethod
    def path(cls, home: Path) -> Path:
        """Where the settings live under `home` ($GPUSETTLE_HOME)."""
        return home / AVAILABILITY_FILE


def load_availability(path: Path) -> AvailabilitySettings:
    """The settings in `path` (defaults when it does not exist); ConfigError for a bad file."""
    if not path.is_file():
        return AvailabilitySettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"cannot read availability settings {path}: {exc}",
            "fix the file (TOML: key = value lines), or set it again with `gpusettle provider availability set`",
        ) from None
    try:
        return AvailabilitySettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(
            f"invalid availability settings in {path}: {problems}",
            f"the keys are: {', '.join(AvailabilitySettings.model_fields)}",
        ) from None


def save_availability(path: Path, settings: AvailabilitySettings) -> None:
    """Write the settings as flat TOML (what `load_availability` reads), atomically."""
    import json

    from .atomicfile import write_atomic

    lines = [f"{name} = {json.dumps(value)}" for name, value in settings.model_dump().items()]
    write_atomic(path, ("\n".join(lines) + "\n").encode(), mode=0o644)
