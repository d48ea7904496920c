"""`gpusettle deploy`: the same code path as scripts/deploy.py."""

from __future__ import annotations

from typing import Any

import click

from ..deploy.config import project_overrides
from ..deploy.core import Roles, deploy_suite
from ..deploy.networks import apply_overrides
from ..errors import ConfigError
from .context import get_ctx, shared_options

__all__ = ["deploy"]


def _kv(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--param {p!r} is not KEY=VALUE", "e.g. --param min_stake=250 --param fee_bps=100"
            )
        out[key.strip()] = value.strip()
    return out


@click.command("deploy")
@click.option(
    "--governance", help="Governance address (default the deployer; it must accept staking governance)."
)
@click.option("--guardian", help="Guardian address (default the deployer).")
@click.option("--arbiter", help="Arbiter address (default the deployer).")
@click.option("--treasury", help="Treasury address (default the deployer).")
@click.option("--oracle", "oracles", multiple=True, help="Oracle address (repeat; default the deployer).")
@click.option("--param", "params", multiple=True, help="Override a parameter: KEY=VALUE (amounts in tokens).")
@click.option(
    "--confirmations",
    type=click.IntRange(1, 64),
    help="Blocks to wait per transaction (default per network).",
)
@click.option(
    "--stop-after", type=click.IntRange(1), hidden=True, help="Stop after N steps (crash rehearsals)."
)
@shared_options
def deploy(
    governance: str | None,
    guardian: str | None,
    arbiter: str | None,
    treasury: str | None,
    oracles: tuple[str, ...],
    params: tuple[str, ...],
    confirmations: int | None,
    stop_after: int | None,
) -> None:
    """Deploy the suite (token, staking, escrow) or finish an interrupted deployment.

    Writes deployments/<chain id>.json after every step; re-running verifies code hashes and deploys
    only what is missing.
    """
    c = get_ctx()
    net = c.network
    overrides = project_overrides(net.name)
    overrides.update(_kv(params))
    if overrides:
        net = apply_overrides(net, overrides)
    chain = c.chain()
    signer = c.signer()
    deployer = c.address()
    roles = Roles.defaults(
        deployer,
        governance=c.resolve_address(governance) if governance else None,
        guardian=c.resolve_address(guardian) if guardian else None,
        arbiter=c.resolve_address(arbiter) if arbiter else None,
        treasury=c.resolve_address(treasury) if treasury else None,
        oracles=[c.resolve_address(o) for o in oracles],
    )

    def confirm(question: str) -> bool:
        return c.confirm(question)

    result = deploy_suite(
        chain,
        net,
        signer,
        roles=roles,
        deployments_dir=c.deployments(),
        confirmations=confirmations,
        assume_yes=c.settings.yes,
        confirm=confirm,
        echo=c.info,
        stop_after=stop_after,
    )
    if result.aborted:
        raise click.Abort()
    rec = result.record
    c.emit(
        {
            "record": str(result.path),
            "chain_id": rec.chain_id,
            "addresses": rec.addresses,
            "complete": rec.complete,
            "sent": result.sent,
            "verified": result.verified,
        },
        "\n".join([f"{k:8} {v}" for k, v in rec.addresses.items()] + [f"record   {result.path}"]),
    )
