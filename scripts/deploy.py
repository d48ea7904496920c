"""Deploy the gpusettle suite to brownie's active network: `brownie run scripts/deploy.py --network <id>`.

This is a thin adapter over `gpusettle.deploy.deploy_suite`, the same code `gpusettle deploy` runs. It
takes the RPC URL and chain id from brownie's connection; the network's parameters come from
gpusettle/deploy/networks.py, overridden by `gpusettle: networks: <name>:` in brownie-config.yaml.

The account:
- GPUSETTLE_ACCOUNT=<alias>: a gpusettle keystore account (required on live networks); its password
  comes from GPUSETTLE_PASSWORD_FILE, GPUSETTLE_PASSWORD or a hidden prompt;
- otherwise, on a development chain only, brownie's accounts[0].
GPUSETTLE_YES=1 skips the confirmation; GPUSETTLE_DEPLOYMENTS picks the record directory;
GPUSETTLE_GOVERNANCE / _GUARDIAN / _ARBITER / _TREASURY / _ORACLES (comma-separated) name the roles.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gpusettle.chain.tx import Chain
from gpusettle.deploy import Roles, apply_overrides, deploy_suite, network_for_chain_id
from gpusettle.deploy.config import project_overrides
from gpusettle.errors import ConfigError, GpusettleError
from gpusettle.keystore import Keystore, resolve_password

PROJECT = Path(__file__).resolve().parent.parent


def _signer(development: bool) -> Any:
    alias = os.environ.get("GPUSETTLE_ACCOUNT", "").strip()
    if alias:
        store = Keystore()
        store.address(alias)
        password = resolve_password(
            None, os.environ.get("GPUSETTLE_PASSWORD_FILE") or None, label=f"Password for {alias}"
        )
        return store.unlock(alias, password)
    if not development:
        raise ConfigError(
            "a live network needs a keystore account",
            "set GPUSETTLE_ACCOUNT=<alias> (see `gpusettle wallet list`)",
        )
    from brownie import accounts

    acct = accounts[0]
    key = getattr(acct, "private_key", None)
    if key:
        from eth_account import Account

        return Account.from_key(key)
    return str(acct.address)


def deploy(yes: bool | None = None, deployments_dir: str | None = None, stop_after: int | None = None) -> Any:
    """Deploy to brownie's active network; returns the DeployResult."""
    from brownie import network, web3

    if not network.is_connected():
        raise ConfigError(
            "brownie is not connected to a network",
            "run it as `brownie run scripts/deploy.py --network <id>`",
        )
    rpc_url = str(web3.provider.endpoint_uri)
    chain = Chain.connect(rpc_url)
    net = network_for_chain_id(chain.chain_id)
    if net is None:
        raise ConfigError(
            f"brownie network {network.show_active()!r} has chain id {chain.chain_id}, which gpusettle has no parameters for",
            "use development (anvil), sepolia, base-sepolia or arbitrum-sepolia",
        )
    overrides = project_overrides(net.name, PROJECT)
    if overrides:
        net = apply_overrides(net, overrides)
    signer = _signer(net.development)
    deployer = signer if isinstance(signer, str) else signer.address
    env = os.environ
    roles = Roles.defaults(
        deployer,
        governance=env.get("GPUSETTLE_GOVERNANCE") or None,
        guardian=env.get("GPUSETTLE_GUARDIAN") or None,
        arbiter=env.get("GPUSETTLE_ARBITER") or None,
        treasury=env.get("GPUSETTLE_TREASURY") or None,
        oracles=[o for o in env.get("GPUSETTLE_ORACLES", "").split(",") if o.strip()],
    )
    assume_yes = yes if yes is not None else env.get("GPUSETTLE_YES", "") in ("1", "true", "yes")
    directory = deployments_dir or env.get("GPUSETTLE_DEPLOYMENTS") or str(PROJECT / "deployments")

    def confirm(question: str) -> bool:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")

    return deploy_suite(
        chain,
        net,
        signer,
        roles=roles,
        deployments_dir=Path(directory),
        assume_yes=assume_yes,
        confirm=confirm,
        stop_after=stop_after,
    )


def main() -> None:
    """brownie's entry point."""
    try:
        deploy()
    except GpusettleError as exc:
        print(f"error: {exc.message}")
        if exc.hint:
            print(f"hint: {exc.hint}")
        raise SystemExit(1) from None
