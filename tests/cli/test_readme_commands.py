"""The README's Commands table names every command group, and only commands that exist."""

from __future__ import annotations

import re

import click

from gpusettle.cli.main import LAZY_COMMANDS, cli
from tests.cli.runner import ROOT


def _table() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Commands\n", 1)[1].split("\n\n", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) < 3 or not cells[1].strip().startswith("`"):
            continue
        rows[cells[1].strip().strip("`")] = re.findall(r"`([^`]+)`", cells[2])
    return rows


def test_every_group_has_a_row_and_every_named_command_exists() -> None:
    rows = _table()
    assert set(rows) == set(LAZY_COMMANDS)
    ctx = click.Context(cli)
    for group_name, names in rows.items():
        group = cli.get_command(ctx, group_name)
        assert group is not None, group_name
        if not isinstance(group, click.Group):
            continue
        for name in names:
            first = name.split()[0].split("/")[0]
            if first.startswith("-"):
                continue
            assert first in group.commands, f"`{group_name} {first}` in the README is no command"
            sub = name.split()
            inner = group.commands[first]
            if isinstance(inner, click.Group) and len(sub) > 1 and not sub[1].startswith(("-", "[")):
                for word in sub[1].split("/"):
                    if word.isupper():
                        continue
                    assert word in inner.commands, (
                        f"`{group_name} {first} {word}` in the README is no command"
                    )
