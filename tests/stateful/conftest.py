"""Fixtures for the state machines: a third provider, worker keys the machines can sign with, and the
example-count settings shared by both machines."""

import importlib.util
import os
from pathlib import Path

import brownie.test
import pytest
from eth_account import Account
from hypothesis import Phase

from tests.fixtures.accounts import WORKER2_KEY, WORKER_KEY
from tests.helpers import dropped_tx
from tests.helpers.fast_rpc import frozen_heap

# brownie 1.22 may report a mined transaction as dropped under load (see tests/helpers/dropped_tx.py); the long
# fuzz runs must not end on it.
dropped_tx.install()

# Throwaway keys for local chains only. The first two are the shared fixtures' worker keys.
STATEFUL_WORKER_KEYS = [WORKER_KEY, WORKER2_KEY, "0x" + "13" * 32, "0x" + "14" * 32]


def machine_settings(step_count=20):
    """`make test` runs 200 examples per machine, `make fuzz` 5,000 (GPUSETTLE_FUZZ_EXAMPLES)."""
    settings = {
        "max_examples": int(os.environ.get("GPUSETTLE_FUZZ_EXAMPLES", "200")),
        "stateful_step_count": step_count,
    }
    if os.environ.get("GPUSETTLE_FUZZ_NO_SHRINK"):
        # debugging aid: report the first failing example as found, without shrinking it
        settings["phases"] = [Phase.explicit, Phase.reuse, Phase.generate]
    return settings


@pytest.fixture(scope="module")
def provider3(accounts):
    return accounts[9]


@pytest.fixture(scope="module")
def worker_keys():
    """Worker address (checksummed) -> private key."""
    return {Account.from_key(k).address: k for k in STATEFUL_WORKER_KEYS}


@pytest.fixture(scope="module")
def worker_accounts(accounts, deployer, worker_keys):
    """The worker keys as brownie accounts with gas money, so workers can accept and decline jobs."""
    out = []
    for key in worker_keys.values():
        acct = accounts.add(key)
        if acct.balance() < 10**18:
            deployer.transfer(acct, "10 ether")
        out.append(acct)
    return out


def _pure_python_state_machine():
    """brownie's `state_machine`, loaded from brownie's own stateful.py source.

    The mypyc-compiled brownie.test.stateful shipped with eth-brownie 1.22.2 cannot run any state machine: its
    `_BrownieStateMachine` is declared @final, so the compiled __init__ insists on that exact type and rejects
    the subclass that `state_machine` itself generates ("brownie.test.stateful._BrownieStateMachine object
    expected; got ...BrownieStateMachine"). The source next to the extension module is the same code without
    that check; loading it runs the machines exactly as brownie intends (snapshot once, chain.revert() before
    every example, rules, invariants, setup and teardown hooks).
    """
    path = Path(brownie.test.__file__).with_name("stateful.py")
    spec = importlib.util.spec_from_file_location("tests.stateful._brownie_stateful", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.state_machine


@pytest.fixture
def state_machine():
    """Overrides brownie's fixture of the same name, see _pure_python_state_machine. brownie collects garbage
    before every example (tests/helpers/fast_rpc.py); the heap that exists now is frozen out of that."""
    with frozen_heap():
        yield _pure_python_state_machine()
