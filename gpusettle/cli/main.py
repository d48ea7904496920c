"""The `gpusettle` command: one group per role, and one place that turns errors into messages."""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import IO, Any

import click
import requests

from .. import __version__
from ..errors import GpusettleError, RpcUnavailableError
from ..oracle.cli import oracle
from ..worker.cli import worker
from .admin import admin
from .context import get_ctx, shared_options
from .deploy import deploy, dev
from .explorer import explorer
from .index import index
from .job import job
from .market import market
from .provider import provider
from .token import token
from .wallet import wallet

__all__ = ["cli", "main"]

DEBUG_ENV = "GPUSETTLE_DEBUG"


class ErrorMessage(click.ClickException):
    """A GpusettleError (or another failure) shown as `error: ...` and `hint: ...`, exit status 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None, kind: str, as_json: bool) -> None:
        super().__init__(message)
        self.hint = hint
        self.kind = kind
        self.as_json = as_json

    def show(self, file: IO[Any] | None = None) -> None:
        if self.as_json:
            click.echo(json.dumps({"error": self.message, "hint": self.hint, "type": self.kind}))
        click.echo(f"error: {self.message}", err=True)
        if self.hint:
            click.echo(f"hint: {self.hint}", err=True)


class GpusettleGroup(click.Group):
    """A group whose commands' GpusettleErrors become messages, never tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except GpusettleError as exc:
            raise _message(exc) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise _message(RpcUnavailableError("the RPC endpoint", type(exc).__name__)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:  # noqa: BLE001 - the last resort: a message, never a traceback
            if os.environ.get(DEBUG_ENV):
                traceback.print_exc()
            raise ErrorMessage(
                f"unexpected {type(exc).__name__}: {exc}",
                f"this is a bug in gpusettle; run again with {DEBUG_ENV}=1 for the traceback and report it",
                type(exc).__name__,
                _json_mode(),
            ) from None


def _json_mode() -> bool:
    try:
        return bool(get_ctx().json)
    except RuntimeError:
        return False


def _message(exc: GpusettleError) -> ErrorMessage:
    return ErrorMessage(exc.message, exc.hint, type(exc).__name__, _json_mode())


@click.group(cls=GpusettleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gpusettle")
@shared_options
def cli() -> None:
    """gpusettle: settle GPU jobs on-chain. Wallets, provider staking and offers, jobs, tokens,
    governance and deployment.

    Passwords come from --password-file, $GPUSETTLE_PASSWORD or a hidden prompt; amounts are in
    whole tokens (e.g. 12.5).
    """
    get_ctx()


cli.add_command(wallet)
# `accounts` is the same group under the name the keystore's messages use.
cli.add_command(wallet, name="accounts")
cli.add_command(provider)
cli.add_command(job)
cli.add_command(token)
cli.add_command(admin)
cli.add_command(deploy)
cli.add_command(dev)
cli.add_command(worker)
cli.add_command(oracle)
cli.add_command(index)
cli.add_command(market)
cli.add_command(explorer)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    try:
        cli.main(args=argv, prog_name="gpusettle")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
