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
    fast_rpc.cache_chain_id()


@pytest.fixture(scope="module", autouse=True)
def _thawed_between_modules():
    """What the per-test freezes held back is collected once per module (tests/helpers/fast_rpc.py)."""
    yield
    fast_rpc.thaw_heap()


@pytest.fixture(autouse=True)
def _young_heap(_thawed_between_modules):
    """brownie's revert after each test collects garbage; only the test's own objects are looked at."""
    fast_rpc.young_heap()
    yield
