"""The deployment tests use the CLI tests' fixtures: a private anvil per module and a CLI runner bound to it."""

from tests.cli.conftest import anvil, gs, home, isolation  # noqa: F401 - re-exported fixtures
