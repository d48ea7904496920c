"""The hardware-check scheduler of `oracle run` with a fake chain, a fake challenge, a fake clock and scripted
random draws: new offers are checked soon, known ones after the drawn delays, offers of providers without a worker
URL are skipped with one log line, a failed or broken check does not stop the next, and where the oracle set's
threshold is above 1 the checks run but nothing is recorded."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from gpusettle.chain.client import OfferInfo, OracleSet
from gpusettle.errors import ContractError, RpcUnavailableError
from gpusettle.hardware.models import HardwareCheck
from gpusettle.oracle.hardware import Verdict
from gpusettle.oracle.hardware_schedule import HardwareSchedule, HardwareScheduler
from gpusettle.oracle.metrics import OracleMetrics
from tests.oracle.helpers import Draws

P1 = "0x" + "11" * 20
P2 = "0x" + "22" * 20
URL = "http://gpu-box.test:8800"
EVERY = 1000.0
START = 1_700_000_000.0


@dataclass
class FakeChain:
    offers: dict[int, OfferInfo] = field(default_factory=dict)
    checked: dict[int, int] = field(default_factory=dict)
    threshold: int = 1
    broken: int = 0
    """The next this many offer reads fail as an unreachable node would."""

    def add(self, provider: str, active: bool = True, checked_at: int = 0) -> int:
        offer_id = len(self.offers) + 1
        self.offers[offer_id] = OfferInfo(offer_id, provider, 10**15, 2, 80, active, "NVIDIA H100", "")
        if checked_at:
            self.checked[offer_id] = checked_at
        return offer_id

    def offer_count(self) -> int:
        return len(self.offers)

    def offer(self, offer_id: int) -> OfferInfo:
        if self.broken:
            self.broken -= 1
            raise RpcUnavailableError("http://node.test", "connection refused")
        return self.offers[offer_id]

    def hardware_checked_at(self, offer_id: int) -> int:
        return self.checked.get(offer_id, 0)

    def oracle_set(self) -> OracleSet:
        return OracleSet(("0x" + "aa" * 20,), self.threshold, 1)


@dataclass
class Rig:
    chain: FakeChain
    now: list[float]
    draws: Draws
    asked: list[tuple[int, str, float]]
    recorded: list[HardwareCheck]
    scheduler: HardwareScheduler
    outcomes: dict[int, Callable[[int], Verdict]]

    def at(self, t: float) -> bool:
        self.now[0] = START + t
        return self.scheduler.step()

    def run_until(self, t: float) -> None:
        """Step at `t` until nothing more is due (each step runs one check)."""
        while self.at(t):
            pass


def _verdict(offer_id: int, at: float, passed: bool = True) -> Verdict:
    check = HardwareCheck(
        offerId=offer_id,
        challengeId="0x" + f"{offer_id:02x}" * 32,
        checkedAt=int(at),
        passed=passed,
        gpuCount=2,
        vramGb=80,
        elapsedMs=12,
        resultRoot="0x" + "cd" * 32,
    )
    return Verdict(check, None if passed else "row 3 is wrong", 32, 5.0)


def rig(chain: FakeChain, expo: Sequence[float] = (), uniform: Sequence[float] = (),
        urls: dict[str, str] | None = None, record: Callable[[HardwareCheck], str] | None = None) -> Rig:  # fmt: skip
    now = [START]
    draws = Draws(list(expo), list(uniform))
    asked: list[tuple[int, str, float]] = []
    recorded: list[HardwareCheck] = []
    outcomes: dict[int, Callable[[int], Verdict]] = {}

    def challenge(offer_id: int, url: str) -> Verdict:
        asked.append((offer_id, url, now[0] - START))
        if offer_id in outcomes:
            return outcomes[offer_id](offer_id)
        return _verdict(offer_id, now[0])

    def default_record(check: HardwareCheck) -> str:
        recorded.append(check)
        return "0x" + "ee" * 32

    settings = HardwareSchedule(every=EVERY, onboard_within=60.0, scan_every=10.0, retry_after=120.0)
    scheduler = HardwareScheduler(
        chain=chain,
        challenge=challenge,
        record=record or default_record,
        worker_urls={P1: URL} if urls is None else urls,
        settings=settings,
        metrics=OracleMetrics(),
        clock=lambda: now[0],
        rng=draws,
    )
    return Rig(chain, now, draws, asked, recorded, scheduler, outcomes)


def test_a_new_offer_is_checked_within_the_onboarding_window_and_recorded() -> None:
    chain = FakeChain()
    offer = chain.add(P1)
    r = rig(chain, expo=[0.5], uniform=[7.0])
    assert r.at(0) is False  # scanned: due 7 s from now (the uniform draw over the 60 s window)
    assert ("uniform", 0.0, 60.0) in r.draws.asked
    assert r.at(6.9) is False and r.asked == []
    assert r.at(7.0) is True
    assert r.asked == [(offer, URL, 7.0)]
    assert r.scheduler.post_once() is True
    assert [c.offerId for c in r.recorded] == [offer] and r.recorded[0].passed
    assert r.scheduler.post_once() is False  # nothing left
    last = r.scheduler.last[offer]
    assert last.checkedAt == int(START + 7) and last.passed


def test_recheck_times_follow_the_draws() -> None:
    chain = FakeChain()
    offer = chain.add(P1)
    # onboarding after 0 s; then waits of 0.5, 2.0, 0.01 (clipped up to 0.1) and 9 (clipped down to 3) x EVERY
    r = rig(chain, expo=[0.5, 2.0, 0.01, 9.0, 1.0], uniform=[0.0])
    r.run_until(0)
    expected = [0.0]
    for factor in (0.5, 2.0, 0.1, 3.0):
        due = expected[-1] + factor * EVERY
        assert r.at(due - 1) is False, f"checked before {due}"
        assert r.at(due) is True
        expected.append(due)
    assert r.asked == [(offer, URL, t) for t in expected]
    assert [a for a in r.draws.asked if a[0] == "expo"] == [("expo", 1.0, 0.0)] * 5


def test_an_offer_already_recorded_waits_for_a_draw_not_the_onboarding_window() -> None:
    chain = FakeChain()
    offer = chain.add(P1, checked_at=int(START) - 5000)
    r = rig(chain, expo=[0.25, 1.0], uniform=[])
    assert r.at(0) is False
    assert r.at(0.25 * EVERY - 1) is False and r.asked == []
    assert r.at(0.25 * EVERY) is True and r.asked == [(offer, URL, 0.25 * EVERY)]


def test_offers_appearing_later_are_found_at_the_next_scan() -> None:
    chain = FakeChain()
    r = rig(chain, expo=[1.0], uniform=[3.0])
    assert r.at(0) is False
    offer = chain.add(P1)
    assert r.at(5) is False  # the next scan is 10 s after the first
    assert r.at(10) is False  # found; due at 13
    assert r.at(13) is True and r.asked == [(offer, URL, 13.0)]


def test_providers_without_a_worker_url_are_skipped_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain = FakeChain()
    skipped = chain.add(P2)
    checked = chain.add(P1)
    withdrawn = chain.add(P1, active=False)
    r = rig(chain, expo=[1.0] * 10, uniform=[0.0])
    with caplog.at_level(logging.INFO, logger="gpusettle.oracle.hardware"):
        for t in range(0, 5000, 10):
            r.at(float(t))
    assert {offer for offer, _, _ in r.asked} == {checked}
    lines = [rec.getMessage() for rec in caplog.records if f"offer {skipped}" in rec.getMessage()]
    assert len(lines) == 1 and "worker URL is unknown" in lines[0] and P2 in lines[0], lines
    assert not [rec for rec in caplog.records if f"offer {withdrawn}:" in rec.getMessage()]


def test_a_failed_check_is_recorded_and_the_next_one_still_runs() -> None:
    chain = FakeChain()
    a = chain.add(P1)
    b = chain.add(P1)
    r = rig(chain, expo=[1.0, 1.0, 1.0, 1.0], uniform=[0.0, 1.0])
    r.outcomes[a] = lambda offer_id: _verdict(offer_id, r.now[0], passed=False)
    r.run_until(0)
    r.run_until(1)
    assert [offer for offer, _, _ in r.asked] == [a, b]
    while r.scheduler.post_once():
        pass
    assert [(c.offerId, c.passed) for c in r.recorded] == [(a, False), (b, True)]
    assert r.at(EVERY) is True and r.asked[-1][0] == a  # the failed offer is checked again at its draw


def test_a_broken_check_is_retried_later_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain = FakeChain()
    a = chain.add(P1)
    b = chain.add(P1)
    r = rig(chain, expo=[1.0, 1.0, 1.0], uniform=[0.0, 0.0])

    def boom(offer_id: int) -> Verdict:
        raise RpcUnavailableError("http://node.test", "read timed out")

    r.outcomes[a] = boom
    with caplog.at_level(logging.WARNING, logger="gpusettle.oracle.hardware"):
        r.run_until(0)
    assert [offer for offer, _, _ in r.asked] == [a, b]
    assert any(f"offer {a}" in rec.getMessage() and "120" in rec.getMessage() for rec in caplog.records)
    del r.outcomes[a]
    assert r.at(119) is False
    assert r.at(120) is True and r.asked[-1] == (a, URL, 120.0)
    assert r.scheduler.post_once() and r.scheduler.post_once()
    assert [c.offerId for c in r.recorded] == [b, a]  # the broken try recorded nothing


def test_an_unreachable_node_while_scanning_is_retried_at_the_next_scan() -> None:
    chain = FakeChain()
    offer = chain.add(P1)
    chain.broken = 1
    r = rig(chain, expo=[1.0], uniform=[0.0])
    assert r.at(0) is False and r.asked == []
    assert r.at(10) is True and r.asked == [(offer, URL, 10.0)]


def test_a_recording_that_fails_is_retried_and_a_refused_one_dropped() -> None:
    chain = FakeChain()
    a = chain.add(P1)
    b = chain.add(P1)
    tries: list[int] = []

    def record(check: HardwareCheck) -> str:
        tries.append(check.offerId)
        if len(tries) == 1:
            raise RpcUnavailableError("http://node.test", "connection reset")
        if check.offerId == b:
            raise ContractError("HardwareRegistryStaleCheck", [b, 1, 2])
        return "0x" + "ee" * 32

    r = rig(chain, expo=[1.0, 1.0], uniform=[0.0, 0.0], record=record)
    r.run_until(0)
    assert r.scheduler.post_once() is False  # the node is down: kept
    assert r.scheduler.post_once() is False  # and not retried before retry_after
    r.now[0] = START + 120
    assert r.scheduler.post_once() is True  # a, recorded
    assert r.scheduler.post_once() is False  # b, refused: dropped
    assert r.scheduler.post_once() is False
    assert tries == [a, a, b]


def test_with_a_threshold_above_one_checks_run_but_are_not_recorded(caplog: pytest.LogCaptureFixture) -> None:
    chain = FakeChain(threshold=2)
    offer = chain.add(P1)
    r = rig(chain, expo=[1.0, 1.0, 1.0], uniform=[0.0])
    with caplog.at_level(logging.WARNING, logger="gpusettle.oracle.hardware"):
        r.run_until(0)
        r.run_until(EVERY)
    assert [o for o, _, _ in r.asked] == [offer, offer]
    assert r.scheduler.post_once() is False and r.recorded == []
    warned = [rec.getMessage() for rec in caplog.records if "threshold" in rec.getMessage()]
    assert len(warned) == 1 and "not recorded" in warned[0], warned
    assert r.scheduler.last[offer].passed
    chain.threshold = 1  # governance lowered it: from the next check on, verdicts are recorded
    r.run_until(EVERY + 10)
    r.run_until(2 * EVERY)
    assert r.scheduler.post_once() is True and [c.offerId for c in r.recorded] == [offer]


def test_every_zero_turns_the_scheduler_off() -> None:
    chain = FakeChain()
    chain.add(P1)
    r = rig(chain, uniform=[0.0])
    r.scheduler.settings = HardwareSchedule(every=0)
    assert r.at(0) is False and r.at(10_000) is False and r.asked == []


def test_metrics_show_each_offers_last_check() -> None:
    chain = FakeChain()
    a = chain.add(P1)
    b = chain.add(P1)
    r = rig(chain, expo=[1.0, 1.0], uniform=[0.0, 0.0])
    r.outcomes[b] = lambda offer_id: _verdict(offer_id, r.now[0], passed=False)
    r.run_until(0)
    reg = r.scheduler.metrics.registry
    assert reg.get_sample_value("gpusettle_oracle_hardware_checks_total", {"outcome": "passed"}) == 1
    assert reg.get_sample_value("gpusettle_oracle_hardware_checks_total", {"outcome": "failed"}) == 1
    assert reg.get_sample_value("gpusettle_oracle_hardware_checked_at", {"offer": str(a)}) == int(START)
    assert reg.get_sample_value("gpusettle_oracle_hardware_passed", {"offer": str(a)}) == 1
    assert reg.get_sample_value("gpusettle_oracle_hardware_passed", {"offer": str(b)}) == 0


def test_an_offer_is_checked_once_its_worker_announces_where_it_answers_and_at_the_url_of_the_day() -> None:
    chain = FakeChain()
    urls: dict[str, str] = {}
    offer = chain.add(P2)
    r = rig(chain, expo=[1.0] * 10, uniform=[0.0, 0.0], urls=urls)
    for t in range(0, 100, 10):
        r.at(float(t))
    assert r.asked == []  # nothing known: nothing sent anywhere
    urls[P2] = "http://gpu-box-2:8800"  # the worker announced itself
    for t in range(100, 130, 10):
        r.at(float(t))
    assert [(o, u) for o, u, _ in r.asked] == [(offer, "http://gpu-box-2:8800")]
    urls[P2] = "http://gpu-box-2b:8800"  # a newer announcement: the next check goes there
    r.at(float(EVERY + 200))
    assert [(o, u) for o, u, _ in r.asked][-1] == (offer, "http://gpu-box-2b:8800")
    del urls[P2]  # no longer usable (say, it resolves privately now): no check, waiting again
    r.at(float(3 * EVERY + 400))
    assert len(r.asked) == 2
    urls[P2] = "http://gpu-box-2c:8800"
    r.at(float(3 * EVERY + 420))
    r.at(float(3 * EVERY + 440))
    assert [(o, u) for o, u, _ in r.asked][-1] == (offer, "http://gpu-box-2c:8800")
