"""`gpusettle token`: balances and transfers of the compute token."""

from __future__ import annotations

import click

from ..units import format_units
from .context import get_ctx, require_tokens, shared_options

__all__ = ["token"]


@click.group()
def token() -> None:
    """The compute token: balance and transfer."""


@token.command("balance")
@click.argument("who", required=False)
@shared_options
def token_balance(who: str | None) -> None:
    """Token and ETH balance of WHO (an address or alias; default --account)."""
    c = get_ctx()
    client = c.client()
    address = c.resolve_address(who) if who else c.address()
    bal = client.token_balance(address)
    eth = client.chain.balance(address)
    c.emit(
        {
            "address": address,
            "balance": bal,
            "balance_tokens": format_units(bal, client.decimals),
            "symbol": client.symbol,
            "eth_wei": eth,
        },
        f"{address}: {client.fmt(bal)}, {format_units(eth)} ETH",
    )


@token.command("transfer")
@click.argument("amount")
@click.argument("to")
@shared_options
def token_transfer(amount: str, to: str) -> None:
    """Send AMOUNT tokens to TO (an address or alias): `gpusettle token transfer 12.5 client`."""
    c = get_ctx()
    client = c.client()
    dest = c.resolve_address(to)
    value = c.amount(amount)
    sender = c.address()
    require_tokens(client, sender, value)
    plan = client.plan_transfer(sender, dest, value, f"transfer {client.fmt(value)} to {dest}")
    out = c.send(plan, what="transferred")
    c.emit(
        {"tx": out.summary(), "to": dest, "amount": value},
        f"transferred {client.fmt(value)} to {dest} (tx {out.tx_hash})",
    )
