"""The README's lease quick starts (`<!-- leases: NAME -->` blocks) name real commands and options with
values they accept: each `gpusettle` line is parsed by the CLI itself (nothing is sent; the end-to-end
path of the same commands runs on anvil in test_lease_cli.py)."""

from __future__ import annotations

import shlex

import click
import pytest

from gpusettle.cli.main import cli
from tests.helpers.readme_shell import readme_blocks


def _parse(line: str) -> None:
    """Parse `line` down to its last subcommand with the CLI's own options and types (runs nothing)."""
    words = shlex.split(line.rstrip("&").strip())
    assert words[0] == "gpusettle", line
    command: click.Command = cli
    args, parent = words[1:], None
    while True:
        ctx = command.make_context(command.name or "gpusettle", list(args), parent=parent)
        if not isinstance(command, click.Group):
            return
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            return
        name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None, f"{line}: no command {name}"
        command, parent = sub, ctx


@pytest.mark.parametrize("block", ["rent", "rent-out"])
def test_lease_quick_start_lines_parse(block: str) -> None:
    lines = readme_blocks("leases")[block]
    assert len(lines) >= 5
    for line in lines:
        if line.startswith("echo "):  # writes the lease's spec file
            continue
        _parse(line)


def test_a_typo_in_a_line_would_fail() -> None:
    with pytest.raises(click.UsageError):
        _parse("gpusettle lease open --offer 1 --four 2h")
    with pytest.raises(click.BadParameter):
        _parse("gpusettle lease open --offer 1 --gpus 300 --for 2h")
