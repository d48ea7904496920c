"""setOracleSet: governance replaces the oracle set and its threshold; the epoch moves on and every attestation
under an earlier epoch is void."""

import brownie
import pytest
from eth_account import Account

from .conftest import ZERO, addr_of, err, expect_event, norm, unauthorized

KEYS = ["0x" + f"{0x41 + i:02x}" * 32 for i in range(40)]
ADDRS = [Account.from_key(k).address for k in KEYS]


def invalid_set(size, threshold):
    return err("JobEscrowInvalidOracleSet(uint256,uint256)", size, threshold)


def test_replaces_the_set(escrow, deployer, oracle, snap):
    assert norm(tuple(escrow.oracleSet())) == norm(([oracle], 1, 1))
    tx = escrow.setOracleSet(ADDRS[:3], 2, {"from": deployer})
    expect_event(tx, "OracleSetUpdated", epoch=2, oracles=ADDRS[:3], threshold=2)
    assert norm(tuple(escrow.oracleSet())) == norm((ADDRS[:3], 2, 2))
    tx = escrow.setOracleSet([ADDRS[5]], 1, {"from": deployer})
    expect_event(tx, "OracleSetUpdated", epoch=3, oracles=[ADDRS[5]], threshold=1)
    assert norm(tuple(escrow.oracleSet())) == norm(([ADDRS[5]], 1, 3))


def test_same_set_again_still_moves_the_epoch(escrow, deployer, oracle):
    tx = escrow.setOracleSet([oracle], 1, {"from": deployer})
    expect_event(tx, "OracleSetUpdated", epoch=2, oracles=[oracle], threshold=1)
    assert escrow.oracleSet()[2] == 2


def test_order_of_the_set_is_free(escrow, deployer):
    unsorted = sorted(ADDRS[:4], key=lambda a: int(a, 16), reverse=True)
    escrow.setOracleSet(unsorted, 4, {"from": deployer})
    assert norm(list(escrow.oracleSet()[0])) == norm(unsorted)


def test_largest_set_and_threshold(escrow, deployer):
    tx = escrow.setOracleSet(ADDRS[:32], 32, {"from": deployer})
    assert tx.events["OracleSetUpdated"]["threshold"] == 32
    assert len(escrow.oracleSet()[0]) == 32


def test_removed_oracle_can_no_longer_attest(escrow, deployer, job, receipt, sign, attest, rando, oracle, oracle_key,
                                             snap):
    job_id = job()
    r = receipt(job_id)
    escrow.setOracleSet([ADDRS[0]], 1, {"from": deployer})
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowNotOracle(address,uint64)", oracle, 2)):
        escrow.settle(r.as_tuple(), sign(r), attest([r], keys=[oracle_key]), {"from": rando})
    assert snap(job_id) == before
    escrow.settle(r.as_tuple(), sign(r), attest([r], keys=[KEYS[0]]), {"from": rando})
    assert escrow.getJob(job_id)["status"] == 3


# --------------------------------------------------------------------- reverts


@pytest.mark.parametrize("who", ["rando", "guardian", "arbiter", "treasury", "oracle_acct"])
def test_only_governance(escrow, rando, guardian, arbiter, treasury, accounts, oracle_key, deployer, snap, who):
    if who == "oracle_acct":
        caller = accounts.add(oracle_key)
        deployer.transfer(caller, "1 ether")
    else:
        caller = {"rando": rando, "guardian": guardian, "arbiter": arbiter, "treasury": treasury}[who]
    before = snap()
    with brownie.reverts(unauthorized(caller, "governance")):
        escrow.setOracleSet([caller], 1, {"from": caller})
    assert snap() == before


@pytest.mark.parametrize("size,threshold", [(0, 1), (0, 0), (1, 0), (3, 0), (1, 2), (3, 4), (32, 33), (33, 1),
                                            (33, 33), (40, 20)])
def test_rejects_bad_size_or_threshold(escrow, deployer, snap, size, threshold):
    before = snap()
    with brownie.reverts(invalid_set(size, threshold)):
        escrow.setOracleSet(ADDRS[:size], threshold, {"from": deployer})
    assert snap() == before


@pytest.mark.parametrize("position", [0, 1, 2])
def test_rejects_zero_address(escrow, deployer, snap, position):
    oracles = ADDRS[:3]
    oracles[position] = ZERO
    before = snap()
    with brownie.reverts(err("JobEscrowInvalidOracle(address)", ZERO)):
        escrow.setOracleSet(oracles, 2, {"from": deployer})
    assert snap() == before


@pytest.mark.parametrize("oracles,repeated", [([0, 0], 0), ([0, 1, 0], 0), ([2, 1, 2, 3], 2), ([4, 5, 6, 6], 6)])
def test_rejects_repeated_oracle(escrow, deployer, snap, oracles, repeated):
    before = snap()
    with brownie.reverts(err("JobEscrowInvalidOracle(address)", ADDRS[repeated])):
        escrow.setOracleSet([ADDRS[i] for i in oracles], 1, {"from": deployer})
    assert snap() == before


def test_previous_members_may_be_reused(escrow, deployer, oracle):
    escrow.setOracleSet([ADDRS[0]], 1, {"from": deployer})
    escrow.setOracleSet([oracle, ADDRS[0]], 2, {"from": deployer})
    assert norm(tuple(escrow.oracleSet())) == norm(([oracle, ADDRS[0]], 2, 3))
