import pytest

from tests.helpers import dropped_tx, fast_rpc

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
    # brownie 1.22 may report a mined transaction as dropped under load (tests/helpers/dropped_tx.py): it ended the
    # stateful runs first, then a unit module's fixture while two suites shared the 2 cores.
    dropped_tx.install()


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
