"""How many blocks deep a transaction must be before gpusettle's daemons treat it as final.

With one confirmation a transaction is final in the block it was mined in, and a one-block
reorganisation (common on testnets and L2s) goes unnoticed: the oracle and the worker say "settled"
while the chain says Running, and the client can later claim a timeout. So the default is the
network's own figure (gpusettle/deploy/networks.py), and fewer than `MIN_CONFIRMATIONS` is refused on
any chain that is not a local development chain (where blocks are mined only on demand).
"""

from __future__ import annotations

from ..deploy.networks import DEVELOPMENT_CHAIN_IDS, network_for_chain_id
from ..errors import ConfigError

__all__ = ["MIN_CONFIRMATIONS", "UNKNOWN_CHAIN_CONFIRMATIONS", "confirmations_for", "index_lag_for"]

MIN_CONFIRMATIONS = 2
"""The fewest confirmations accepted on a chain that can reorganise."""
UNKNOWN_CHAIN_CONFIRMATIONS = 3
"""The default on a chain missing from the network table."""


def confirmations_for(chain_id: int, requested: int | None) -> int:
    """`requested`, checked, or (None) the network's own number of confirmations."""
    development = chain_id in DEVELOPMENT_CHAIN_IDS
    network = network_for_chain_id(chain_id)
    default = network.settings.confirmations if network is not None else UNKNOWN_CHAIN_CONFIRMATIONS
    if not development:
        default = max(default, MIN_CONFIRMATIONS)
    if requested is None:
        return default
    if requested < 1:
        raise ConfigError(
            f"{requested} confirmations cannot work: a transaction is at least 1 block deep once mined",
            f"leave --confirmations out (the default for chain {chain_id} is {default})",
        )
    if not development and requested < MIN_CONFIRMATIONS:
        raise ConfigError(
            f"{requested} confirmation(s) on chain {chain_id} would call a transaction final in the block "
            "it was mined in, so a one-block reorganisation would go unnoticed",
            f"use --confirmations {MIN_CONFIRMATIONS} or more, or leave it out (the default here is {default})",
        )
    return requested


def index_lag_for(chain_id: int, requested: int | None) -> int:
    """Blocks the index stays behind the head: `requested`, or 0 on a development chain (an automining
    node mines a block only per transaction, so a lag would hide the last settlement until the next
    transaction), else the network's own confirmations."""
    if requested is not None:
        return requested
    if chain_id in DEVELOPMENT_CHAIN_IDS:
        return 0
    network = network_for_chain_id(chain_id)
    return network.settings.confirmations if network is not None else UNKNOWN_CHAIN_CONFIRMATIONS
