"""What the long-running commands (`worker run`, `oracle run`) share: the settings every command takes
(`gpusettle.settings`), option types checked at parse time, logging."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .cli.context import HTTP_URL, parse_address
from .errors import ConfigError

if TYPE_CHECKING:
    from .chain.client import Gpusettle
    from .settings import Settings

__all__ = [
    "ACCOUNT_REF",
    "HTTP_URL",
    "LOG_LEVEL",
    "LOG_LEVEL_OPTION",
    "client_factory",
    "knob",
    "resolve_account",
    "setup_logging",
]

_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}|dev:\d+")
_HEX = re.compile(r"0x[0-9a-fA-F]{40}")


class _AccountRef(click.ParamType[str, Any]):
    """An address (checksum checked), a key store alias or dev:N; resolved once the settings are known."""

    name = "ADDRESS|ALIAS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if _HEX.fullmatch(text):
            try:
                return parse_address(text)
            except ConfigError as exc:
                self.fail(f"{exc.message}; {exc.hint}", param, ctx)
        if _ALIAS.fullmatch(text):
            return text
        self.fail(
            f"{text!r} is neither an address (0x + 40 hex digits) nor an account alias "
            "(see `gpusettle wallet list`) nor dev:N",
            param,
            ctx,
        )


ACCOUNT_REF = _AccountRef()
"""An address or an account alias, checked at parse time."""
LOG_LEVEL = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)
"""Log levels."""
LOG_LEVEL_OPTION = click.option("--log-level", type=LOG_LEVEL, default="INFO", show_default=True)
"""The daemons' --log-level."""

F = TypeVar("F", bound=Callable[..., Any])


def knob(name: str, kind: Any, default: Any, text: str) -> Callable[[F], F]:
    """A daemon's tuning option: its type, its default (shown in --help) and what it sets."""
    return click.option(name, type=kind, default=default, show_default=True, help=text)


def resolve_account(settings: Settings, ref: str, chain: Any = None) -> str:
    """ACCOUNT_REF's value as an address: an alias is looked up in the key store, dev:N on the node."""
    from .settings import dev_account_index

    if ref.startswith("0x"):
        return ref
    index = dev_account_index(ref)
    if index is not None:
        from .settings import dev_local_account

        return dev_local_account(
            index, chain or settings.chain(), settings.network_info().development
        ).address
    return settings.open_keystore().address(ref)


def client_factory(settings: Settings) -> Callable[[], Gpusettle]:
    """Connections for the daemon's threads, each resolved as every command resolves it."""

    def connect() -> Gpusettle:
        return settings.connect()

    return connect


def setup_logging(level: str) -> None:
    """Log lines with a timestamp to stderr."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
