"""Lease arithmetic and parsing the CLI does before any transaction: durations, deposits, runway,
availability windows, uptime guarantees, --match keys, and `provider availability` (a settings file,
no chain)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpusettle.availability import class_name, class_value, parse_duration
from gpusettle.cli.leaseterms import LeasePlan, deposit_for, fmt_span, per_hour
from gpusettle.cli.provider import _uptime_bps, availability_terms, parse_window
from gpusettle.errors import ConfigError
from gpusettle.index.match import parse_match
from gpusettle.settings import AvailabilitySettings, load_availability
from tests.cli.runner import Cli


@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800), ("1h30m", 5400), ("42", 42)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "1.5h", "-1h", "2h foo"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_duration(text, "--for")
    assert "--for" in err.value.message and "1h30m" in str(err.value.hint)


def test_classes_by_name_prefix_or_number() -> None:
    assert [class_value(t) for t in ("dedicated", "Recl", "2", "i")] == [0, 1, 2, 2]
    assert class_name(1) == "reclaimable" and class_name(7) == "7"
    with pytest.raises(ConfigError, match="not an availability class"):
        class_value("spot")


def test_plan_rate_deposit_and_runway() -> None:
    plan = LeasePlan(
        offer_id=1, gpu_count=2, price_per_gpu_second=5, max_price=5, max_class=0, min_notice=0,
        deposit=deposit_for(10, 7200), end_time=0,
    )  # fmt: skip
    assert plan.rate == 10 and plan.deposit == 72_000 and plan.runway_seconds == 7200
    plan.check()
    with pytest.raises(ConfigError, match="less than one second"):
        LeasePlan(1, 2, 5, 5, 0, 0, deposit=9, end_time=0).check()
    with pytest.raises(ConfigError, match="deposit is zero"):
        LeasePlan(1, 2, 5, 5, 0, 0, deposit=0, end_time=0).check()
    assert per_hour(10**15, 18) == "3.6"
    assert [fmt_span(s) for s in (45, 600, 3900, 90000)] == ["45 s", "10 min", "1 h 5 min", "1 d 1 h"]


def test_match_keys_for_leases() -> None:
    need = parse_match("gpu=H100,free=2,class=reclaimable,min-notice=10m", 18)
    assert (need.gpu, need.min_free, need.max_class, need.min_notice) == ("H100", 2, 1, 600)
    with pytest.raises(ConfigError, match="not an availability class"):
        parse_match("class=spot", 18)
    with pytest.raises(ConfigError, match="not a duration"):
        parse_match("min-notice=soon", 18)


def test_windows() -> None:
    assert parse_window("mon-fri 18:00-08:00") == "mon,tue,wed,thu,fri 18:00-08:00"
    assert parse_window("weekends 00:00-24:00") == "sat,sun 00:00-24:00"
    assert parse_window("weekdays 19:00-07:00") == "mon,tue,wed,thu,fri 19:00-07:00"
    assert parse_window("fri-mon 22:00-06:00") == "mon,fri,sat,sun 22:00-06:00"
    assert parse_window("Daily 22:00-06:00") == "mon,tue,wed,thu,fri,sat,sun 22:00-06:00"
    for bad in (
        "mon-fri",
        "someday 10:00-11:00",
        "mon 25:00-26:00",
        "mon-xyz 10:00-11:00",
        "mon 10:00-10:00",
    ):
        with pytest.raises(ConfigError, match="--window"):
            parse_window(bad)


def test_uptime_guarantee_percent() -> None:
    assert _uptime_bps("99.5") == 9950 and _uptime_bps("100%") == 10000 and _uptime_bps("0") == 0
    for bad in ("101", "-1", "99.555", "most"):
        with pytest.raises(ConfigError, match="uptime-guarantee"):
            _uptime_bps(bad)


@pytest.fixture
def local(tmp_path: Path) -> Cli:
    return Cli(tmp_path, {"GPUSETTLE_HOME": str(tmp_path)})


def test_provider_availability_set_and_show(local: Cli) -> None:
    shown = local.json("provider", "availability")
    assert shown["schedule"] == [] and shown["reclaim"] is True
    local(
        "provider", "availability", "set", "--window", "mon-fri 18:00-08:00", "--window", "weekends 00:00-24:00",
        "--owner-util", "40", "--owner-minutes", "3", "--idle-minutes", "20", "--no-reclaim", "--timezone", "UTC",
    )  # fmt: skip
    saved = load_availability(AvailabilitySettings.path(local.home))
    assert saved.schedule == ["mon,tue,wed,thu,fri 18:00-08:00", "sat,sun 00:00-24:00"]
    assert (saved.owner_util_percent, saved.owner_minutes, saved.idle_minutes) == (40, 3, 20)
    assert saved.reclaim is False and saved.timezone == "UTC"
    text = local("provider", "availability", "show").output
    assert "mon,tue,wed,thu,fri 18:00-08:00" in text and "above 40% for 3 min" in text
    # A change keeps what it does not name.
    local("provider", "availability", "set", "--owner-util", "55")
    again = load_availability(AvailabilitySettings.path(local.home))
    assert again.owner_util_percent == 55 and again.schedule == saved.schedule
    local("provider", "availability", "set", "--always")
    assert json.loads(local("provider", "availability", "show", "--json").stdout)["schedule"] == []


def test_provider_availability_errors_change_nothing(local: Cli) -> None:
    path = AvailabilitySettings.path(local.home)
    bad = local("provider", "availability", "set", "--window", "mon 9-17", ok=False)
    assert "error: --window 'mon 9-17'" in bad.output and "hint:" in bad.output and not path.exists()
    zone = local("provider", "availability", "set", "--timezone", "Mars/Olympus", ok=False)
    assert "not a time zone" in zone.output and "hint:" in zone.output and not path.exists()
    none = local("provider", "availability", "set", ok=False)
    assert "say what to change" in none.output
    both = local("provider", "availability", "set", "--always", "--window", "mon 09:00-17:00", ok=False)
    assert "not both" in both.output and not path.exists()
    path.write_text("schedule = [\n")
    broken = local("provider", "availability", "show", ok=False)
    assert "error: cannot read availability settings" in broken.output and "hint:" in broken.output


def test_offer_availability_terms_are_checked_before_sending() -> None:
    new = (0, 0, 0)
    assert availability_terms(new, "reclaimable", "10m", "99") == (1, 600, 9900)
    assert availability_terms(new, "interruptible", None, None) == (2, 0, 0)
    # From reclaimable with a guarantee to interruptible: the notice and guarantee do not carry over.
    assert availability_terms((1, 600, 9900), "interruptible", None, None) == (2, 0, 0)
    # Only the guarantee changes; the class and notice stay.
    assert availability_terms((1, 600, 9900), None, None, "95") == (1, 600, 9500)
    assert availability_terms((1, 600, 0), "dedicated", None, None) == (0, 0, 0)
    for flags, words in (
        (("reclaimable", None, None), "needs a notice"),
        (("interruptible", "5m", None), "gives no notice"),
        (("interruptible", None, "99"), "cannot guarantee uptime"),
        (("dedicated", "5m", None), "has no notice"),
        (("reclaimable", "forever", None), "not a duration"),
    ):
        with pytest.raises(ConfigError, match=words):
            availability_terms(new, *flags)
