"""Hardware verdicts share the oracle account's nonce sequence with receipt and checkpoint batches (issue 12): the
poster's thread sends one only while no batch of this account is open, so a verdict never takes a nonce a pending
batch (or its fee-bumped replacement) holds."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gpusettle.oracle.service import OracleService


class Hardware:
    def __init__(self, waiting: int) -> None:
        self.waiting, self.sent = waiting, 0

    def pending(self) -> int:
        return self.waiting

    def post_once(self) -> bool:
        self.sent += 1
        self.waiting -= 1
        return True


def service(receipts: list[Any], checkpoints: list[Any], hardware: Hardware, leases: bool = True) -> Any:
    """The parts of an OracleService the poster's thread uses, as stand-ins."""
    return SimpleNamespace(
        poster=SimpleNamespace(step=lambda: False),
        lease_work=SimpleNamespace(post_once=lambda: False) if leases else None,
        hardware=hardware,
        store=SimpleNamespace(open_batches=lambda: receipts, open_checkpoint_batches=lambda: checkpoints),
    )


@pytest.mark.parametrize(
    ("receipts", "checkpoints"), [(["batch 7"], []), ([], ["checkpoints 3"]), (["batch 7"], ["checkpoints 3"])]
)
def test_no_verdict_goes_out_while_a_batch_is_open(receipts: list[Any], checkpoints: list[Any]) -> None:
    hardware = Hardware(waiting=2)
    for _ in range(3):
        assert OracleService.post_all_once(service(receipts, checkpoints, hardware)) is False
    assert hardware.sent == 0 and hardware.pending() == 2


def test_verdicts_go_out_one_per_step_once_no_batch_is_open() -> None:
    hardware = Hardware(waiting=2)
    assert OracleService.post_all_once(service([], [], hardware)) is True
    assert OracleService.post_all_once(service([], [], hardware, leases=False)) is True
    assert hardware.sent == 2
    assert OracleService.post_all_once(service([], [], hardware)) is False  # nothing left to send
    assert hardware.sent == 2
