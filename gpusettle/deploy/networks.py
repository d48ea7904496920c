"""The networks gpusettle deploys to, with the parameters each one gets.

One table, used by `gpusettle deploy` and by `brownie run scripts/deploy.py`. RPC URLs never live here:
each network names the environment variable that holds its URL (URLs carry API keys). A brownie project
may override parameters per network under `networks: <brownie id>: gpusettle: {...}` in
brownie-config.yaml; `apply_overrides` validates those the same way for both entry points.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import ConfigError, InvalidAmountError
from ..models import NetworkSettings
from ..units import format_units, to_base_units

__all__ = [
    "DEVELOPMENT_CHAIN_IDS",
    "NETWORKS",
    "DeployParameters",
    "Network",
    "apply_overrides",
    "get_network",
    "network_for_chain_id",
]

E18 = 10**18
DEVELOPMENT_CHAIN_IDS = frozenset({31337, 1337})
"""Local chains (anvil, ganache, hardhat): unlocked accounts are allowed and records are not committed."""

AMOUNT_PARAMETERS = frozenset({"token_supply", "min_stake", "dispute_bond", "lease_dispute_bond"})
"""Parameters that are token amounts: base units inside, whole tokens in overrides."""


@dataclass(frozen=True)
class DeployParameters:
    """Everything a deployment fixes, amounts in base units (the token has 18 decimals)."""

    token_name: str = "gpusettle Compute"
    token_symbol: str = "GPUC"
    token_supply: int = 1_000_000_000 * E18
    min_stake: int = 100 * E18
    unbonding_period: int = 7 * 24 * 3600
    fee_bps: int = 250
    collateral_bps: int = 2_000
    timeout_slash_bps: int = 5_000
    dispute_slash_bps: int = 10_000
    dispute_window: int = 24 * 3600
    accept_window: int = 3600
    timeout_grace: int = 600
    dispute_bond: int = 10 * E18
    oracle_threshold: int = 1
    lease_fee_bps: int = 250
    lease_collateral_seconds: int = 3600
    lease_expiry_slash_bps: int = 5_000
    lease_dispute_slash_bps: int = 10_000
    lease_dispute_window: int = 24 * 3600
    lease_accept_window: int = 3600
    lease_grace: int = 600
    lease_dispute_bond: int = 10 * E18

    def escrow_parameters(self) -> list[int]:
        """JobEscrow's constructor `params`, in setParameter's order."""
        return [
            self.fee_bps,
            self.collateral_bps,
            self.timeout_slash_bps,
            self.dispute_slash_bps,
            self.dispute_window,
            self.accept_window,
            self.timeout_grace,
            self.dispute_bond,
        ]

    def lease_parameters(self) -> list[int]:
        """LeaseEscrow's constructor `params`, in its setParameter's order."""
        return [
            self.lease_fee_bps,
            self.lease_collateral_seconds,
            self.lease_expiry_slash_bps,
            self.lease_dispute_slash_bps,
            self.lease_dispute_window,
            self.lease_accept_window,
            self.lease_grace,
            self.lease_dispute_bond,
        ]

    def as_record(self) -> dict[str, int | str]:
        """Name → value, as stored in the deployment record."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def render(self) -> dict[str, str]:
        """Name → human-readable value (amounts in whole tokens)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in AMOUNT_PARAMETERS:
                out[f.name] = f"{format_units(value)} {self.token_symbol}"
            elif f.name.endswith(("_period", "_window", "_grace", "_seconds")):
                out[f.name] = f"{value} s ({value / 3600:g} h)"
            elif f.name.endswith("_bps"):
                out[f.name] = f"{value} bps ({value / 100:g}%)"
            else:
                out[f.name] = str(value)
        return out

    def check(self) -> None:
        """ConfigError for values the contracts would reject, before anything is sent."""
        problems = []
        caps = {
            "fee_bps": (0, 1_000),
            "collateral_bps": (0, 10_000),
            "timeout_slash_bps": (0, 10_000),
            "dispute_slash_bps": (0, 10_000),
            "dispute_window": (3600, 30 * 86400),
            "accept_window": (60, 7 * 86400),
            "timeout_grace": (0, 7 * 86400),
            "dispute_bond": (0, 1_000_000 * E18),
            "min_stake": (0, 10_000_000 * E18),
            "unbonding_period": (3600, 90 * 86400),
            "oracle_threshold": (1, 32),
        }
        for name, (lo, hi) in caps.items():
            v = getattr(self, name)
            if not lo <= v <= hi:
                problems.append(f"{name}={v} is outside [{lo}, {hi}]")
        if self.unbonding_period <= self.dispute_window:
            problems.append(
                f"unbonding_period ({self.unbonding_period} s) must be longer than dispute_window "
                f"({self.dispute_window} s), or a provider could unstake out of a dispute"
            )
        if self.token_supply <= 0:
            problems.append("token_supply must be above zero")
        if problems:
            raise ConfigError("invalid deployment parameters: " + "; ".join(problems), "fix the parameters")


@dataclass(frozen=True)
class Network:
    """A network gpusettle knows: how to reach it and what to deploy there."""

    settings: NetworkSettings
    parameters: DeployParameters = field(default_factory=DeployParameters)
    default_rpc_url: str | None = None
    """Used when the RPC environment variable is unset (local chains only)."""

    @property
    def name(self) -> str:
        """The network's name (also the `--network` value)."""
        return self.settings.name

    @property
    def chain_id(self) -> int:
        """The chain id its RPC endpoint must report."""
        return self.settings.chain_id

    @property
    def development(self) -> bool:
        """A local chain: unlocked accounts allowed, records not committed."""
        return self.settings.chain_id in DEVELOPMENT_CHAIN_IDS

    def rpc_url(self, override: str | None = None, environ: Mapping[str, str] | None = None) -> str:
        """`override`, else the network's environment variable, else its default (local chains)."""
        if override:
            return override
        env = os.environ if environ is None else environ
        if env.get(self.settings.rpc_env, "").strip() or self.default_rpc_url is None:
            return self.settings.rpc_url(env)
        return self.default_rpc_url


def _testnet(name: str, rpc_env: str, chain_id: int, explorer: str, confirmations: int) -> Network:
    params = DeployParameters(
        # Shorter windows than a production deployment so a tester can walk a job through its life in
        # an afternoon; still the dispute window < the unbonding period, as the contracts demand.
        min_stake=100 * E18,
        unbonding_period=2 * 24 * 3600,
        dispute_window=6 * 3600,
        accept_window=3600,
        timeout_grace=900,
        dispute_bond=10 * E18,
    )
    settings = NetworkSettings(
        name=name,
        rpc_env=rpc_env,
        chain_id=chain_id,
        confirmations=confirmations,
        explorer_url=explorer,
        parameters=params.as_record(),
    )
    return Network(settings=settings, parameters=params)


def _development() -> Network:
    params = DeployParameters()
    settings = NetworkSettings(
        name="development",
        rpc_env="GPUSETTLE_DEV_RPC_URL",
        chain_id=31337,
        confirmations=1,
        parameters=params.as_record(),
    )
    return Network(settings=settings, parameters=params, default_rpc_url="http://127.0.0.1:8545")


NETWORKS: dict[str, Network] = {
    "development": _development(),
    "sepolia": _testnet("sepolia", "SEPOLIA_RPC_URL", 11155111, "https://sepolia.etherscan.io", 2),
    "base-sepolia": _testnet(
        "base-sepolia", "BASE_SEPOLIA_RPC_URL", 84532, "https://sepolia.basescan.org", 3
    ),
    "arbitrum-sepolia": _testnet(
        "arbitrum-sepolia", "ARBITRUM_SEPOLIA_RPC_URL", 421614, "https://sepolia.arbiscan.io", 3
    ),
}
"""Every network by name."""


def get_network(name: str) -> Network:
    """The network called `name`; ConfigError naming the known ones otherwise."""
    try:
        return NETWORKS[name]
    except KeyError:
        raise ConfigError(f"unknown network {name!r}", f"choose one of: {', '.join(NETWORKS)}") from None


def network_for_chain_id(chain_id: int) -> Network | None:
    """The network with this chain id (1337 counts as development too)."""
    for net in NETWORKS.values():
        if net.chain_id == chain_id:
            return net
    if chain_id in DEVELOPMENT_CHAIN_IDS:
        dev = NETWORKS["development"]
        return replace(dev, settings=dev.settings.model_copy(update={"chain_id": chain_id}))
    return None


def apply_overrides(network: Network, overrides: Mapping[str, Any]) -> Network:
    """`network` with parameters (and `confirmations`) overridden; amounts are given in whole tokens.

    Unknown names and malformed values raise ConfigError, so a typo in a config file cannot be ignored.
    """
    params = network.parameters
    settings = network.settings
    known = {f.name: f for f in fields(DeployParameters)}
    changes: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key == "confirmations":
            settings = settings.model_copy(update={"confirmations": _int(key, raw)})
            continue
        if key not in known:
            raise ConfigError(
                f"unknown deployment parameter {key!r}",
                f"choose from: confirmations, {', '.join(known)}",
            )
        if key in ("token_name", "token_symbol"):
            changes[key] = str(raw)
        elif key in AMOUNT_PARAMETERS:
            try:
                changes[key] = to_base_units(str(raw))
            except InvalidAmountError as exc:
                raise ConfigError(f"parameter {key}: {exc.message}", exc.hint) from None
        else:
            changes[key] = _int(key, raw)
    params = replace(params, **changes)
    params.check()
    settings = settings.model_copy(update={"parameters": params.as_record()})
    return replace(network, settings=settings, parameters=params)


def _int(key: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ConfigError(f"parameter {key} must be an integer, not {raw!r}")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip().replace("_", "")
    if not text.isdigit():
        raise ConfigError(f"parameter {key} must be a non-negative integer, not {raw!r}")
    return int(text)
