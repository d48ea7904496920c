"""How deep a transaction must be before the oracle and the worker call it final (issue 9, defect 2).

With one confirmation a batch is final in the block it was mined in, so a one-block reorganisation
leaves the oracle saying "settled" while the chain says Running. The default is the network's own
figure, and fewer than 2 is refused on any chain that is not a local development chain."""

from __future__ import annotations

import pytest

from gpusettle.chain.finality import MIN_CONFIRMATIONS, confirmations_for
from gpusettle.deploy.networks import NETWORKS
from gpusettle.errors import ConfigError
from gpusettle.oracle.poster import PosterSettings
from gpusettle.worker.runner import WorkerConfig


@pytest.mark.parametrize("name", ["sepolia", "base-sepolia", "arbitrum-sepolia"])
def test_the_default_is_the_networks_own_and_at_least_two(name: str) -> None:
    network = NETWORKS[name]
    got = confirmations_for(network.chain_id, None)
    assert got == network.settings.confirmations
    assert got >= MIN_CONFIRMATIONS == 2


def test_an_unknown_public_chain_gets_a_safe_default() -> None:
    assert confirmations_for(8453, None) >= MIN_CONFIRMATIONS


def test_a_local_chain_may_use_one() -> None:
    assert confirmations_for(31337, None) == 1
    assert confirmations_for(1337, 1) == 1


@pytest.mark.parametrize("asked", [0, 1])
def test_fewer_than_two_on_a_public_chain_is_refused_with_a_hint(asked: int) -> None:
    with pytest.raises(ConfigError) as info:
        confirmations_for(11155111, asked)
    assert f"{asked} confirmation" in info.value.message
    assert info.value.hint and "is 2" in info.value.hint  # the network's default, named


def test_zero_is_refused_everywhere() -> None:
    with pytest.raises(ConfigError):
        confirmations_for(31337, 0)


def test_daemon_defaults_leave_the_choice_to_the_network() -> None:
    assert PosterSettings().confirmations is None
    assert WorkerConfig(data_dir=".", provider="0x" + "11" * 20, oracle_url="http://o").confirmations is None  # type: ignore[arg-type]
