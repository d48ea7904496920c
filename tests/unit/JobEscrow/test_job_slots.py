"""JobSlots: the job escrow's hand-packed slot words against the compiler's own struct layout.

The settlement path reads and writes JobCore and JobTermsSlot as raw 256-bit words through JobSlots' offsets, and
the opening path stores JobSlots.packCore. If a struct field were reordered or resized without the library, the
escrow would silently read the wrong bits. These tests set every field at its extremes (zero, its maximum, and
patterns that tell neighbouring fields apart) and require, for each:
- the library's word equals the word Solidity itself stores for the struct (plain struct assignment);
- Solidity reads the library's word back as the same struct, and so does unpackCore/unpackTerms (round trip);
- the field-by-field reads of the settlement path see each field;
- settledCore keeps client, gpuCount and collateralBps and replaces status, stamp and limit.
"""

import pytest
from brownie import JobSlotsHarness
from brownie.test import given
from hypothesis import settings
from hypothesis import strategies as st

MAX160 = 2**160 - 1
STATUS_MAX = 10  # IJobEscrowTypes.JobStatus.DisputeLapsed, the last member: a larger value is no JobStatus
SETTLED = 3

ADDRESSES = ["0x" + "00" * 20, "0x" + "ff" * 20, "0x" + "a5" * 20, "0x0000000000000000000000000000000000000001",
             "0x8000000000000000000000000000000000000000"]


def addr(value):
    return "0x" + value.to_bytes(20, "big").hex()


def core_cases():
    extremes = {
        "client": ADDRESSES,
        "status": [0, 1, SETTLED, STATUS_MAX],
        "gpuCount": [0, 1, 0x80, 0xFF],
        "collateralBps": [0, 1, 10_000, 0x8000 | 10_000, 0xFFFF],
        "stamp": [0, 1, 2**31, 2**32 - 1],
        "limit": [0, 1, 2**31, 2**32 - 1],
    }
    base = {"client": ADDRESSES[2], "status": 2, "gpuCount": 4, "collateralBps": 2_000, "stamp": 1_700_000_000,
            "limit": 1_700_003_600}
    cases = [dict(base)]
    for field, values in extremes.items():
        for v in values:
            cases.append({**base, field: v})
    # all fields at their maximum together, and all zero: a field spilling into its neighbour shows in one of them
    cases.append({"client": ADDRESSES[1], "status": STATUS_MAX, "gpuCount": 0xFF, "collateralBps": 0xFFFF,
                  "stamp": 2**32 - 1, "limit": 2**32 - 1})
    cases.append({"client": ADDRESSES[0], "status": 0, "gpuCount": 0, "collateralBps": 0, "stamp": 0, "limit": 0})
    return cases


def terms_cases():
    base = {"provider": ADDRESSES[2], "price": 10**15, "maxGpuSeconds": 3600}
    cases = [dict(base)]
    for field, values in {"provider": ADDRESSES, "price": [0, 1, 2**63, 2**64 - 1],
                          "maxGpuSeconds": [0, 1, 2**31, 2**32 - 1]}.items():
        for v in values:
            cases.append({**base, field: v})
    cases.append({"provider": ADDRESSES[1], "price": 2**64 - 1, "maxGpuSeconds": 2**32 - 1})
    return cases


CORE_ORDER = ("client", "status", "gpuCount", "collateralBps", "stamp", "limit")
TERMS_ORDER = ("provider", "price", "maxGpuSeconds")


def as_tuple(case, order):
    return tuple(case[k] for k in order)


def norm(t):
    return tuple(x.lower() if isinstance(x, str) else int(x) for x in t)


@pytest.fixture(scope="module")
def slots(deployer):
    return JobSlotsHarness.deploy({"from": deployer})


def check_core(slots, case):
    c = as_tuple(case, CORE_ORDER)
    word = slots.packCore(c)
    assert word == slots.compilerCore.call(c), case
    assert norm(slots.compilerReadCore.call(word)) == norm(c)
    assert norm(slots.unpackCore(word)) == norm(c)
    assert tuple(slots.hotCoreFields(word)) == c[1:]
    assert word & MAX160 == int(case["client"], 16)


def check_terms(slots, case):
    t = as_tuple(case, TERMS_ORDER)
    word = slots.packTerms(t)
    assert word == slots.compilerTerms.call(t), case
    assert norm(slots.compilerReadTerms.call(word)) == norm(t)
    assert norm(slots.unpackTerms(word)) == norm(t)
    assert norm(slots.hotTermsFields(word)) == norm(t)


@pytest.mark.parametrize("case", core_cases(), ids=lambda c: "-".join(str(v)[:6] for v in c.values()))
def test_core_word_is_the_compilers_layout_and_round_trips(slots, case):
    check_core(slots, case)


@pytest.mark.parametrize("case", terms_cases(), ids=lambda c: "-".join(str(v)[:6] for v in c.values()))
def test_terms_word_is_the_compilers_layout_and_round_trips(slots, case):
    check_terms(slots, case)


@settings(max_examples=40, deadline=None)
@given(client=st.integers(0, MAX160), status=st.integers(0, STATUS_MAX), gpus=st.integers(0, 255),
       bps=st.integers(0, 2**16 - 1), stamp=st.integers(0, 2**32 - 1), limit=st.integers(0, 2**32 - 1),
       provider=st.integers(0, MAX160), price=st.integers(0, 2**64 - 1), max_gs=st.integers(0, 2**32 - 1))
def test_random_words_round_trip(slots, client, status, gpus, bps, stamp, limit, provider, price, max_gs):
    check_core(slots, {"client": addr(client), "status": status, "gpuCount": gpus, "collateralBps": bps,
                       "stamp": stamp, "limit": limit})
    check_terms(slots, {"provider": addr(provider), "price": price, "maxGpuSeconds": max_gs})


@pytest.mark.parametrize("case", core_cases()[::3])
def test_settled_word_keeps_the_job_and_replaces_the_clock(slots, case):
    c = as_tuple(case, CORE_ORDER)
    word = slots.packCore(c)
    for billed, settled_at in ((0, 0), (2**32 - 1, 2**32 - 1), (12_345, 1_800_000_000)):
        out = slots.unpackCore(slots.settledCore(word, billed, settled_at))
        assert norm(out) == norm((case["client"], SETTLED, case["gpuCount"], case["collateralBps"], billed,
                                  settled_at))
