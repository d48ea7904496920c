"""The CLI names parameters and roles; the contracts number them. The numbering lives in one place, the enums of
the interfaces (JobParameter, LeaseParameter, StakingParameter, Role): these tests read those enums from the
Solidity source and hold the Python names, and the contracts' PARAM_COUNT literals, to them. Reordering an enum
member without the Python side (or the reverse) fails here instead of setting the wrong parameter on-chain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpusettle.chain.client import ESCROW_PARAMETERS, LEASE_PARAMETERS, ROLE_IDS, STAKING_PARAMETERS
from gpusettle.deploy.networks import DeployParameters

ROOT = Path(__file__).resolve().parents[2]


def enum_members(source: str, name: str) -> list[str]:
    """The members of `enum name { ... }` in order, comments dropped."""
    match = re.search(r"\benum\s+" + name + r"\s*\{(.*?)\}", source, re.S)
    assert match, f"enum {name} not found"
    body = re.sub(r"//[^\n]*", "", match.group(1))
    return [m.strip() for m in body.split(",") if m.strip()]


def snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def param_count(path: str) -> int:
    match = re.search(r"PARAM_COUNT\s*=\s*(\d+)\s*;", (ROOT / path).read_text())
    assert match, f"no PARAM_COUNT literal in {path}"
    return int(match.group(1))


def test_snake_case_of_enum_members() -> None:
    assert snake("FeeBps") == "fee_bps" and snake("RulingPeriod") == "ruling_period" and snake("Grace") == "grace"
    src = "enum E {\n  A, // one, two\n  BeeCee // three\n}"
    assert enum_members(src, "E") == ["A", "BeeCee"]


def test_job_escrow_parameter_names_follow_the_enum() -> None:
    members = enum_members((ROOT / "interfaces/IJobEscrow.sol").read_text(), "JobParameter")
    assert [snake(m) for m in members] == list(ESCROW_PARAMETERS)
    assert param_count("contracts/escrow/JobEscrowBase.sol") == len(members)


def test_lease_escrow_parameter_names_follow_the_enum() -> None:
    members = enum_members((ROOT / "interfaces/ILeaseEscrow.sol").read_text(), "LeaseParameter")
    assert ["lease_" + snake(m) for m in members] == list(LEASE_PARAMETERS)
    assert param_count("contracts/lease/LeaseEscrowBase.sol") == len(members)


def test_staking_parameter_names_follow_the_enum() -> None:
    members = enum_members((ROOT / "interfaces/IProviderStaking.sol").read_text(), "StakingParameter")
    assert [snake(m) for m in members] == list(STAKING_PARAMETERS)


def test_role_ids_follow_the_enum() -> None:
    members = enum_members((ROOT / "interfaces/IJobEscrow.sol").read_text(), "Role")
    assert {snake(m): i for i, m in enumerate(members)} == ROLE_IDS


@pytest.mark.parametrize(
    ("method", "names"),
    [("escrow_parameters", ESCROW_PARAMETERS[:8]), ("lease_parameters", LEASE_PARAMETERS)],
)
def test_deployment_settings_pass_the_constructor_parameters_in_enum_order(
    method: str, names: tuple[str, ...]
) -> None:
    """The deployer's constructor arrays are built field by field: each value must land at its enum index."""
    defaults = DeployParameters()
    # Give every field a distinct value, so a swapped pair shows.
    fields = {n: 1000 + i for i, n in enumerate(names)}
    params = DeployParameters(**{n: v for n, v in fields.items() if hasattr(defaults, n)})
    assert getattr(params, method)() == [fields[n] for n in names]
