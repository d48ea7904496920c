"""The `gpusettle` command: one group per role, and one place that turns errors into messages."""

from __future__ import annotations

import importlib
import os
import sys

import click

from .. import __version__
from .context import get_ctx, shared_options
from .errorhandling import ErrorHandlingGroup

__all__ = ["cli", "main", "run_group"]


class GpusettleGroup(ErrorHandlingGroup):
    """The root group: commands are imported when they run (start-up stays fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in LAZY_COMMANDS:
            return found
        module, attr, _ = LAZY_COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from LAZY_COMMANDS' one-line help, so `--help` imports no command module."""
        rows = [(name, LAZY_COMMANDS[name][2]) for name in sorted(LAZY_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "wallet": ("gpusettle.cli.wallet", "wallet", "Create, import and manage encrypted accounts."),
    "provider": (
        "gpusettle.cli.provider",
        "provider",
        "Stake, offers, worker key, earnings (rent out GPUs).",
    ),
    "offer": ("gpusettle.cli.offers", "offer", "Find offers to run a job on (rent GPUs)."),
    "job": ("gpusettle.cli.job", "job", "Open, publish, watch, refund and dispute jobs (rent GPUs)."),
    "lease": (
        "gpusettle.cli.lease",
        "lease",
        "Open, top up, close and watch leases (rent GPUs by the second).",
    ),
    "market": ("gpusettle.cli.market", "market", "Search offers, providers and market figures (an index)."),
    "index": ("gpusettle.cli.index", "index", "Follow the chain into a local index (SQLite or PostgreSQL)."),
    "explorer": ("gpusettle.cli.explorer", "explorer", "Serve the market explorer web app over an index."),
    "token": ("gpusettle.cli.token", "token", "The compute token: balance and transfer."),
    "admin": ("gpusettle.cli.admin", "admin", "Governance, guardian and treasury actions."),
    "deploy": ("gpusettle.cli.deploy", "deploy", "Deploy the contracts (or finish a deployment)."),
    "dev": ("gpusettle.cli.dev", "dev", "A local chain: `dev up` runs the whole stack; `dev fund`."),
    "worker": ("gpusettle.worker.cli", "worker", "Run jobs on this machine's GPUs and get them paid."),
    "oracle": ("gpusettle.oracle.cli", "oracle", "Verify receipts and settle them on-chain."),
}
"""Command name -> (module, attribute, one-line help): modules are imported when their command runs."""


@click.group(cls=GpusettleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gpusettle")
@shared_options
def cli() -> None:
    """gpusettle: settle GPU jobs on-chain. Wallets, provider staking and offers, jobs, tokens,
    governance and deployment, the worker and the oracle.

    Every option below is also an environment variable and a key of $GPUSETTLE_HOME/config.toml
    (see the README's configuration table). Passwords come from --password-file, $GPUSETTLE_PASSWORD
    or a hidden prompt; amounts are in whole tokens (e.g. 12.5).
    """
    get_ctx()


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    run_group(cli, argv, "gpusettle")


def run_group(group: click.Group, argv: list[str] | None, prog_name: str) -> None:
    """Run a click group as a program; Ctrl-C outside a daemon's own handler exits 130."""
    try:
        group.main(args=argv, prog_name=prog_name)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        _flush_or_quiet()
        raise


def _flush_or_quiet() -> None:
    """Output still buffered at exit meets a reader that went away (`| head`): end quietly with
    status 1, as click does for a broken pipe during the command, not with Python's exit-time warning."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
