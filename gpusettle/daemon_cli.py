"""What the long-running commands (`worker run`, `oracle run`) share: node and key options, logging."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount

from .keystore import Keystore, resolve_password

F = TypeVar("F", bound=Callable[..., Any])


def node_and_key_options(account_help: str) -> Callable[[F], F]:
    """--rpc-url, --deployment, --keystore, --account (as `alias`) and --password-file."""

    def decorate(func: F) -> F:
        for option in reversed(
            [
                click.option(
                    "--rpc-url",
                    envvar="GPUSETTLE_RPC_URL",
                    required=True,
                    help="JSON-RPC endpoint of the chain.",
                ),
                click.option(
                    "--deployment",
                    type=click.Path(exists=True, dir_okay=False, path_type=Path),
                    required=True,
                    help="Deployment record (deployments/<chain id>.json).",
                ),
                click.option(
                    "--keystore", type=click.Path(file_okay=False), default=None, help="Keystore directory."
                ),
                click.option("--account", "alias", required=True, help=account_help),
                click.option(
                    "--password-file",
                    type=click.Path(dir_okay=False),
                    default=None,
                    help="File holding the password.",
                ),
            ]
        ):
            func = option(func)
        return func

    return decorate


def setup_logging(level: str) -> None:
    """Log lines with a timestamp to stderr."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def load_account(keystore: str | None, alias: str, password_file: str | None, label: str) -> LocalAccount:
    """Unlock a keystore account (password from --password-file, $GPUSETTLE_PASSWORD or a prompt)."""
    password = resolve_password(None, password_file, label=f"Password for {label} account {alias!r}")
    return Keystore(keystore).unlock(alias, password)
