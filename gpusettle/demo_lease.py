"""The demo's lease: a short rental of two GPU slots beside the job, billed per second through
oracle-signed checkpoints, with its workload killed once so the down time shows up and is refunded.

The service is the demo's own `sleep`; while the file `hold` stands, it dies as soon as it starts, so
the one kill is a few seconds of down time rather than a restart too quick for a heartbeat to see.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from .chain import Gpusettle
from .devnet import FastSender
from .errors import GpusettleError
from .models import JobSpec
from .units import format_units

__all__ = ["LEASE_GPUS", "DemoLease", "LeaseOutcome", "lease_spec"]

LEASE_GPUS = 2
DOWN_SECONDS = 3
"""How long the killed service stays down (its restarts fail while `hold` stands)."""
ORACLE_ARGS = (
    "--heartbeat-interval",
    "1",
    "--checkpoint-every",
    "3",
    "--checkpoint-lag",
    "2",
    "--lease-scan-every",
    "0.5",
    "--probe-every",
    "0",
)
"""Seconds, not the production hours: a few checkpoints settle within the demo."""
WORKER_ARGS = ("--allow-command", "--unsandboxed", "--heartbeat-interval", "1")
"""The lease's service is the demo's own `sleep` (no client program runs unsandboxed)."""


def lease_spec(workdir: Path) -> JobSpec:
    """The lease's service: sleeps until stopped, dies at once while `workdir/hold` exists."""
    hold = workdir / "hold"
    return JobSpec.model_validate(
        {"workload": {"kind": "command", "argv": ["sh", "-c", f"test -e {hold} && exit 7; exec sleep 600"]}}
    )


@dataclass
class LeaseOutcome:
    """What the lease came to."""

    lease_id: int
    checkpoints: int
    up_seconds: int
    down_seconds: int
    rate: int
    deposit: int
    earned: int
    """Paid to the provider, the fee deducted."""
    fee: int
    penalty: int
    refunded: int
    """What the client's claimRefund returned."""
    ok: bool

    def lines(self) -> list[str]:
        """The summary's lease lines."""
        return [
            (
                f"lease {self.lease_id}: {LEASE_GPUS} GPU slots at {format_units(self.rate)} GPUC per second, "
                f"deposit {format_units(self.deposit)} GPUC"
            ),
            f"  checkpoints settled  {self.checkpoints} (oracle-signed, per-second billing)",
            (
                f"  up / down seconds    {self.up_seconds} / {self.down_seconds} "
                "(the workload was killed once: down time is not billed)"
            ),
            (
                f"  provider earned      {format_units(self.earned)} GPUC "
                f"(up seconds x rate, less {format_units(self.fee)} GPUC fee)"
            ),
            f"  client got back      {format_units(self.refunded)} GPUC of its deposit"
            + (f" + {format_units(self.penalty)} GPUC SLA penalty" if self.penalty else ""),
            f"  lease balances       {'match the checkpoints exactly' if self.ok else 'DO NOT MATCH: see above'}",
        ]


@dataclass
class DemoLease:
    """One lease of the demo, from opening to the refund."""

    gs: Gpusettle
    client: LocalAccount
    provider: LocalAccount
    offer_id: int
    price: int
    spec: JobSpec
    workdir: Path
    lease_id: int = 0
    deposit: int = 0
    _alive: Callable[[], None] = field(default=lambda: None)

    @property
    def escrow(self) -> Any:
        escrow = self.gs.lease_escrow
        if escrow is None:
            raise GpusettleError("the demo deployment has no LeaseEscrow")
        return escrow

    @property
    def rate(self) -> int:
        return LEASE_GPUS * self.price

    def open(self, seconds: int = 300) -> int:
        """Open the lease with a deposit for `seconds` of billing; returns its id and the gas."""
        self.deposit = self.rate * seconds
        sender = FastSender(self.gs, self.client)
        sender.call(self.gs.token, "approve", self.escrow.address, self.deposit)
        sender.call(
            self.escrow,
            "openLease",
            self.offer_id,
            LEASE_GPUS,
            self.price,
            2,
            0,
            bytes.fromhex(self.spec.spec_hash()[2:]),
            self.deposit,
            0,
            gas=400_000,
        )
        receipts = sender.wait()
        for event in self.gs.chain.decode_logs(receipts[-1]["logs"]):
            if event.name == "LeaseOpened":
                self.lease_id = int(event.args["leaseId"])
                return int(receipts[-1]["gasUsed"])
        raise GpusettleError("openLease emitted no LeaseOpened event")

    def view(self) -> dict[str, Any]:
        """getLease by field name."""
        abi = next(i for i in self.escrow.abi if i.get("name") == "getLease")
        names = [c["name"] for c in abi["outputs"][0]["components"]]
        return dict(zip(names, self.escrow.functions.getLease(self.lease_id).call(), strict=True))

    def settled(self) -> list[dict[str, Any]]:
        """The lease's CheckpointSettled events, in period order."""
        logs = self.escrow.events.CheckpointSettled.get_logs(
            from_block=0, argument_filters={"leaseId": self.lease_id}
        )
        return sorted((dict(e["args"]) for e in logs), key=lambda a: int(a["fromTime"]))

    def service_pid(self, worker_db: Path) -> int | None:
        """The process group of the lease's service, as the worker remembers it."""
        with sqlite3.connect(f"file:{worker_db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT value FROM meta WHERE key = ?", (f"pgroup:lease:{self.lease_id}",)
            ).fetchone()
        return int(str(row[0]).split()[0]) if row and row[0] else None

    def kill_once(self, worker_db: Path, wait: Callable[[Callable[[], bool], float, str], None]) -> int:
        """Kill the service; it stays down DOWN_SECONDS, then the worker's restart takes; returns the
        chain time of the kill."""
        wait(lambda: self.service_pid(worker_db) is not None, 30, "the lease's service to run")
        pid = self.service_pid(worker_db)
        assert pid is not None
        hold = self.workdir / "hold"
        hold.touch()
        killed_at = self.gs.chain.timestamp()
        os.killpg(pid, signal.SIGKILL)
        time.sleep(DOWN_SECONDS)
        hold.unlink()
        wait(lambda: self.service_pid(worker_db) not in (None, pid), 30, "the lease's service to restart")
        return killed_at

    def close_and_settle(
        self, wait: Callable[[Callable[[], bool], float, str], None]
    ) -> tuple[LeaseOutcome, int]:
        """Close, wait for the final checkpoint, claim the refund and the earnings; the outcome and gas."""
        client_before = self.gs.token_balance(self.client.address)
        provider_before = self.gs.token_balance(self.provider.address)
        closing = FastSender(self.gs, self.client)
        closing.call(self.escrow, "closeLease", self.lease_id, gas=200_000)
        gas = sum(int(r["gasUsed"]) for r in closing.wait())
        wait(lambda: int(self.view()["status"]) == 3, 60, "the lease's final checkpoint")
        claims = FastSender(self.gs, self.client)
        claims.call(self.escrow, "claimRefund", self.lease_id, gas=200_000)
        earnings = FastSender(self.gs, self.provider)
        earnings.call(self.escrow, "withdrawEarnings", gas=200_000)
        gas += sum(int(r["gasUsed"]) for r in claims.wait() + earnings.wait())
        cps = self.settled()
        view = self.view()
        up = sum(int(c["upSeconds"]) for c in cps)
        down = sum(int(c["downSeconds"]) for c in cps)
        earned = sum(int(c["payout"]) for c in cps)
        fee = sum(int(c["fee"]) for c in cps)
        penalty = sum(int(c["penalty"]) for c in cps)
        refunded = self.gs.token_balance(self.client.address) - client_before - penalty
        contiguous = all(b["fromTime"] == a["toTime"] for a, b in itertools.pairwise(cps))
        ok = (
            contiguous
            and earned + fee == up * self.rate
            and refunded == self.deposit - up * self.rate
            and self.gs.token_balance(self.provider.address) - provider_before == earned
            and int(view["upSeconds"]) == up
            and int(view["downSeconds"]) == down
        )
        outcome = LeaseOutcome(
            self.lease_id, len(cps), up, down, self.rate, self.deposit, earned, fee, penalty, refunded, ok
        )
        return outcome, gas
