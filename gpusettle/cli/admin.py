"""`gpusettle admin`: parameters, oracle set, roles, pause, sweeping stray tokens (governance and guardian)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from ..chain.client import ESCROW_PARAMETERS, LEASE_PARAMETERS, ROLE_IDS, STAKING_PARAMETERS, Gpusettle
from ..deploy.networks import AMOUNT_PARAMETERS
from ..errors import ConfigError
from ..hashing import keccak256
from .context import fmt_time, get_ctx, shared_options

__all__ = ["admin"]


@click.group()
def admin() -> None:
    """Governance and guardian actions."""


@admin.group("params")
def params() -> None:
    """Show and set the parameters."""


@params.command("show")
@shared_options
def params_show() -> None:
    """Every parameter, the oracle set, the roles and the pause flag."""
    c = get_ctx()
    client = c.client()
    p = client.parameters()
    oracles = client.oracle_set()
    roles = client.roles()
    paused = client.paused()
    data = {
        "parameters": p.as_dict(),
        "oracle_set": asdict(oracles),
        "roles": asdict(roles),
        "paused": paused,
    }

    def human() -> None:
        for name, value in p.as_dict().items():
            shown = client.fmt(value) if name in AMOUNT_PARAMETERS else str(value)
            click.echo(f"{name:24} {shown}")
        click.echo(
            f"{'oracles':24} {', '.join(oracles.oracles)} (threshold {oracles.threshold}, epoch {oracles.epoch})"
        )
        for name, who in asdict(roles).items():
            click.echo(f"{name:24} {who}")
        click.echo(f"{'paused':24} {'yes' if paused else 'no'}")

    c.emit(data, human)


@params.command("set")
@click.argument("name", type=click.Choice(ESCROW_PARAMETERS + STAKING_PARAMETERS + LEASE_PARAMETERS))
@click.argument("value")
@shared_options
def param_set(name: str, value: str) -> None:
    """Set parameter NAME to VALUE (token amounts in tokens, windows in seconds, fractions in bps). lease_* names
    set the lease escrow's parameters, which apply to leases opened from then on."""
    c = get_ctx()
    client = c.client()
    if name in AMOUNT_PARAMETERS:
        v = c.amount(value)
    else:
        if not value.isdigit():
            raise ConfigError(
                f"{name} takes a whole number, not {value!r}", "seconds or basis points, e.g. 3600 or 250"
            )
        v = int(value)
    out = c.send(client.plan_set_parameter(c.address(), name, v), what="parameter set")
    shown = client.fmt(v) if name in AMOUNT_PARAMETERS else str(v)
    # Under `parameters`, as `params show` has it: amounts follow the JSON rule, the rest are numbers.
    c.emit({"tx": out.summary(), "name": name, "parameters": {name: v}}, f"{name} is now {shown}")


def _arbiter(sender: str, client: Gpusettle) -> str:
    """`sender`, when it holds the arbiter role; else the error that says who does."""
    arbiter = client.roles().arbiter
    if sender.lower() != arbiter.lower():
        raise ConfigError(
            f"{sender} is not the arbiter ({arbiter})", "sign with the arbiter's key (--account)"
        )
    return sender


@admin.command("rule")
@click.argument("kind", type=click.Choice(["job", "lease"]))
@click.argument("work_id", type=click.IntRange(1))
@click.option("--upheld/--rejected", required=True, help="The verdict.")
@shared_options
def rule(kind: str, work_id: int, upheld: bool) -> None:
    """Arbiter: rule on the open dispute of job or lease WORK_ID (a lease's: of its last checkpoint) by its ruling
    deadline. Upheld: the provider is slashed and jailed, the client compensated and its bond returned. Rejected: the
    bond goes to the provider (a lease goes on)."""
    c = get_ctx()
    client = c.client()
    sender = _arbiter(c.address(), client)
    now = client.chain.timestamp()
    if kind == "job":
        j = client.job(work_id)
        status, deadline = j.status, j.deadline
    else:
        from .lease import leases_of

        leases = leases_of(c)
        info = leases.lease(work_id)
        status, deadline = info.status, info.ruling_deadline
    if status != "Disputed":
        raise ConfigError(
            f"{kind} {work_id} is {status}, not Disputed: there is no open dispute to rule on",
            f"see `gpusettle {kind} status {work_id}`",
        )
    if now > deadline:
        raise ConfigError(
            f"the ruling deadline of {kind} {work_id}'s dispute passed {fmt_time(deadline, now)}",
            f"it can only lapse now: `gpusettle {kind} lapse-dispute {work_id}` (the bond goes back to the client)",
        )
    plan = (
        client.plan_resolve_dispute(sender, work_id, upheld)
        if kind == "job"
        else leases.plan_resolve_dispute(sender, work_id, upheld)
    )
    out = c.send(plan, what="ruled")
    verdict = "upheld" if upheld else "rejected"
    c.emit(
        {"tx": out.summary(), "kind": kind, "id": work_id, "upheld": upheld},
        f"{kind} {work_id}: dispute {verdict}",
    )


@admin.command("report-fraud")
@click.argument("job_id", type=click.IntRange(1))
@click.option(
    "--evidence",
    required=True,
    help="What shows the fraud (a file path, a URL or a note): its keccak256 is recorded on-chain with the report.",
)
@shared_options
def report_fraud(job_id: int, evidence: str) -> None:
    """Arbiter: job JOB_ID, still running, produced a fraudulent result. The client is refunded in full and
    compensated from the slash (the dispute fraction of the deposit), the provider is jailed. What the provider's
    stake cannot cover now becomes the job's fraud debt (`gpusettle job collect-fraud-debt`)."""
    c = get_ctx()
    client = c.client()
    sender = _arbiter(c.address(), client)
    j = client.job(job_id)
    if j.status != "Running":
        raise ConfigError(
            f"job {job_id} is {j.status}, not Running: fraud is reported on a running job only",
            f"a settled job is disputed by its client instead (`gpusettle job status {job_id}`)",
        )
    path = Path(evidence)
    evidence_hash = keccak256(path.read_bytes() if path.is_file() else evidence.encode())
    out = c.send(client.plan_report_fraud(sender, job_id, evidence_hash), what="fraud reported")
    ev = out.event("FraudReported").args
    debt = [e for e in out.events if e.name == "FraudDebtRecorded"]
    owed = int(debt[0].args["amount"]) if debt else 0
    c.emit(
        {
            "tx": out.summary(),
            "job_id": job_id,
            "evidence_hash": "0x" + evidence_hash.hex(),
            "slashed": int(ev["slashed"]),
            "compensation": int(ev["compensation"]),
            "fraud_debt": owed,
        },
        f"job {job_id}: fraud reported; {client.fmt(int(ev['compensation']))} compensation to the client"
        + (f", {client.fmt(owed)} owed as a fraud debt (`gpusettle job collect-fraud-debt {job_id}`)" if owed else ""),
    )


@admin.command("oracle-set")
@click.option("--oracle", "oracles", multiple=True, required=True, help="Oracle address or alias (repeat).")
@click.option("--threshold", type=click.IntRange(1, 32), required=True, help="Signatures needed (M of N).")
@shared_options
def oracle_set(oracles: tuple[str, ...], threshold: int) -> None:
    """Replace the oracle set (attestations under the old set become void)."""
    c = get_ctx()
    client = c.client()
    addrs = sorted({c.resolve_address(o) for o in oracles}, key=lambda a: int(a, 16))
    out = c.send(client.plan_set_oracle_set(c.address(), addrs, threshold), what="oracle set replaced")
    now = client.oracle_set()
    c.emit(
        {"tx": out.summary(), "oracle_set": asdict(now)},
        f"oracle set epoch {now.epoch}: {len(addrs)} oracles, threshold {threshold}",
    )


@admin.command("set-role")
@click.argument("role", type=click.Choice(tuple(ROLE_IDS)))
@click.argument("holder")
@shared_options
def set_role(role: str, holder: str) -> None:
    """Give ROLE (treasury, guardian, arbiter) to HOLDER (an address or alias); sent from --account."""
    c = get_ctx()
    client = c.client()
    who = c.resolve_address(holder)
    out = c.send(client.plan_set_role(c.address(), role, who), what="role set")
    c.emit({"tx": out.summary(), "role": role, "account": who}, f"{role} is now {who}")


@admin.command("pause")
@shared_options
def pause() -> None:
    """Guardian: stop new jobs (refunds, settlement and withdrawals go on)."""
    c = get_ctx()
    client = c.client()
    out = c.send(client.plan_pause(c.address()), what="paused")
    c.emit({"tx": out.summary(), "paused": True}, "escrow paused: new jobs are refused")


@admin.command("unpause")
@shared_options
def unpause() -> None:
    """Guardian or governance: resume new jobs."""
    c = get_ctx()
    client = c.client()
    out = c.send(client.plan_unpause(c.address()), what="unpaused")
    c.emit({"tx": out.summary(), "paused": False}, "escrow unpaused")


@admin.command("withdraw-fees")
@shared_options
def withdraw_fees() -> None:
    """Send the protocol fees the escrow accrued to the treasury (anyone may call it).

    Not a provider's earnings: providers use `gpusettle provider withdraw-earnings`."""
    c = get_ctx()
    client = c.client()
    fees = int(client.chain.rpc(lambda: client.escrow.functions.accruedFees().call()))
    treasury = client.roles().treasury
    if fees == 0:
        raise ConfigError("the escrow holds no accrued fees", "fees accrue as jobs settle")
    before = client.token_balance(treasury)
    out = c.send(
        client.chain.plan_call(
            f"withdraw {client.fmt(fees)} of fees to the treasury {treasury}",
            c.address(),
            client.escrow,
            "withdrawFees",
        ),
        what="fees withdrawn",
    )
    got = client.token_balance(treasury) - before
    c.emit(
        {"tx": out.summary(), "treasury": treasury, "fees": got},
        f"sent {client.fmt(got)} of fees to the treasury {treasury}",
    )


@admin.command("sweep-excess")
@shared_options
def sweep_excess() -> None:
    """Governance: send tokens sent to the job escrow directly (its balance beyond what it owes) to the treasury.

    The job escrow keeps the total it owes on chain (`owed()`); the sweep can never take an owed token. The lease
    escrow has no sweep: tokens sent to it directly stay there (see SECURITY.md, "Known limits")."""
    c = get_ctx()
    client = c.client()
    escrow = client.escrow
    sender = c.address()
    governance = str(client.chain.rpc(escrow.functions.governance().call))
    if governance.lower() != sender.lower():
        raise ConfigError(
            f"only the job escrow's governance ({governance}) may sweep it, not {sender}",
            "send it from the governance account with --account",
        )
    owed = int(client.chain.rpc(escrow.functions.owed().call))
    excess = max(client.token_balance(escrow.address) - owed, 0)
    if excess == 0:
        raise ConfigError(
            "the job escrow holds no tokens beyond what it owes",
            "only tokens transferred to the job escrow directly are swept; check its balance against `owed()`",
        )
    treasury = client.roles().treasury
    out = c.send(
        client.chain.plan_call(
            f"sweep {client.fmt(excess)} from the job escrow to the treasury {treasury}",
            sender,
            escrow,
            "sweepExcess",
        ),
        what="job escrow swept",
    )
    c.emit(
        {"tx": out.summary(), "treasury": treasury, "amount": excess},
        f"sent {client.fmt(excess)} from the job escrow to the treasury {treasury}",
    )
