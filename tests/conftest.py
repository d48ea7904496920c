import pytest

from tests.helpers import fast_rpc

pytest_plugins = [
    "tests.fixtures.accounts",
    "tests.fixtures.contracts",
    "tests.fixtures.jobs",
    "tests.fixtures.leases",
    "tests.fixtures.postgres",
]


@pytest.fixture(scope="session", autouse=True)
def _fast_rpc():
    """Drops per-call work brownie and requests do for nothing in tests (tests/helpers/fast_rpc.py)."""
    fast_rpc.drop_stack_inspection()
    fast_rpc.plain_session()
