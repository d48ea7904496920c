"""Attacks on the hardware registry's attestation: every forged, replayed or misdirected check is refused with its
error and leaves the record as it was."""

import brownie
import pytest
from brownie import HardwareRegistry, chain
from eth_account import Account

from tests.fixtures.accounts import ORACLE_KEYS
from tests.helpers.hardware_signing import Check, hardware_domain, sign_check
from tests.helpers.revert import typed_error as err
from tests.helpers.signing import malleable_pair


@pytest.fixture(scope="module")
def registry(escrow, staking, deployer):
    return HardwareRegistry.deploy(escrow, staking, {"from": deployer})


@pytest.fixture(scope="module")
def hdom(registry):
    return hardware_domain(chain.id, registry.address)


def _now():
    return chain[-1].timestamp


def _record(registry):
    return tuple(registry.latestCheck(1))


def test_replayed_check_is_refused(registry, staked_provider, hdom, oracle_key, escrow, rando):
    c = Check(1, _now())
    sigs = sign_check(c, escrow.oracleSet()[2], [oracle_key], hdom)
    registry.recordCheck(c.as_tuple(), sigs, {"from": rando})
    before = _record(registry)
    with brownie.reverts(err("HardwareRegistryStaleCheck(uint256,uint64,uint64)", 1, c.checkedAt, c.checkedAt)):
        registry.recordCheck(c.as_tuple(), sigs, {"from": rando})
    assert _record(registry) == before


def test_an_older_pass_cannot_overwrite_a_newer_failure(registry, staked_provider, hdom, oracle_key, escrow, rando):
    epoch = escrow.oracleSet()[2]
    old_pass = Check(1, _now() - 60)
    old_sigs = sign_check(old_pass, epoch, [oracle_key], hdom)
    fail = Check(1, _now(), passed=False)
    registry.recordCheck(fail.as_tuple(), sign_check(fail, epoch, [oracle_key], hdom), {"from": rando})
    with brownie.reverts(err("HardwareRegistryStaleCheck(uint256,uint64,uint64)", 1, old_pass.checkedAt, fail.checkedAt)):
        registry.recordCheck(old_pass.as_tuple(), old_sigs, {"from": rando})
    assert not registry.isVerified(1, 0)


def test_wrong_chain_id_and_wrong_contract(registry, staked_provider, oracle_key, escrow, rando):
    c = Check(1, _now())
    epoch = escrow.oracleSet()[2]
    for dom in (hardware_domain(chain.id + 1, registry.address), hardware_domain(chain.id, escrow.address),
                {"name": "gpusettle JobEscrow", "version": "1", "chainId": chain.id,
                 "verifyingContract": registry.address}):
        sigs = sign_check(c, epoch, [oracle_key], dom)
        signer = Account._recover_hash(bytes(registry.checkDigest(c.as_tuple(), epoch)),
                                       vrs=_vrs(sigs[0]))
        with brownie.reverts(err("HardwareRegistryNotOracle(address,uint64)", signer, epoch)):
            registry.recordCheck(c.as_tuple(), sigs, {"from": rando})
    assert registry.latestCheck(1)["checkedAt"] == 0


def _vrs(sig):
    r, vs = sig
    v = (vs[0] >> 7) + 27
    s = int.from_bytes(vs, "big") & ((1 << 255) - 1)
    return (v, int.from_bytes(r, "big"), s)


def test_a_changed_field_does_not_verify(registry, staked_provider, hdom, oracle_key, escrow, rando):
    epoch = escrow.oracleSet()[2]
    honest = Check(1, _now(), passed=False)
    sigs = sign_check(honest, epoch, [oracle_key], hdom)
    forged = Check(1, honest.checkedAt, passed=True)
    signer = Account._recover_hash(bytes(registry.checkDigest(forged.as_tuple(), epoch)), vrs=_vrs(sigs[0]))
    with brownie.reverts(err("HardwareRegistryNotOracle(address,uint64)", signer, epoch)):
        registry.recordCheck(forged.as_tuple(), sigs, {"from": rando})


def test_non_oracle_signer(registry, staked_provider, hdom, worker_key, escrow, rando):
    c = Check(1, _now())
    epoch = escrow.oracleSet()[2]
    with brownie.reverts(err("HardwareRegistryNotOracle(address,uint64)", Account.from_key(worker_key).address, epoch)):
        registry.recordCheck(c.as_tuple(), sign_check(c, epoch, [worker_key], hdom), {"from": rando})


def test_below_threshold_unsorted_and_duplicates(registry, staked_provider, hdom, escrow, deployer, rando):
    members = sorted(ORACLE_KEYS[:3], key=lambda k: int(Account.from_key(k).address, 16))
    escrow.setOracleSet([Account.from_key(k).address for k in members], 2, {"from": deployer})
    epoch = escrow.oracleSet()[2]
    c = Check(1, _now())
    with brownie.reverts(err("HardwareRegistryAttestationBelowThreshold(uint256,uint256)", 1, 2)):
        registry.recordCheck(c.as_tuple(), sign_check(c, epoch, members[:1], hdom), {"from": rando})
    sigs = sign_check(c, epoch, members[:2], hdom)
    low, high = Account.from_key(members[0]).address, Account.from_key(members[1]).address
    with brownie.reverts(err("HardwareRegistryOracleSignersNotSorted(uint256,address,address)", 1, low, high)):
        registry.recordCheck(c.as_tuple(), list(reversed(sigs)), {"from": rando})
    with brownie.reverts(err("HardwareRegistryOracleSignersNotSorted(uint256,address,address)", 1, low, low)):
        registry.recordCheck(c.as_tuple(), [sigs[0], sigs[0]], {"from": rando})
    registry.recordCheck(c.as_tuple(), sigs, {"from": rando})
    assert registry.isVerified(1, 0)


def test_stale_epoch(registry, staked_provider, hdom, oracle_key, oracle, escrow, deployer, rando):
    c = Check(1, _now())
    old_epoch = escrow.oracleSet()[2]
    sigs = sign_check(c, old_epoch, [oracle_key], hdom)
    escrow.setOracleSet([oracle], 1, {"from": deployer})  # same key, new epoch
    new_epoch = escrow.oracleSet()[2]
    assert new_epoch != old_epoch
    signer = Account._recover_hash(bytes(registry.checkDigest(c.as_tuple(), new_epoch)), vrs=_vrs(sigs[0]))
    with brownie.reverts(err("HardwareRegistryNotOracle(address,uint64)", signer, new_epoch)):
        registry.recordCheck(c.as_tuple(), sigs, {"from": rando})
    registry.recordCheck(c.as_tuple(), sign_check(c, new_epoch, [oracle_key], hdom), {"from": rando})


def test_malleated_signature(registry, staked_provider, escrow, deployer, rando):
    c = Check(1, _now())
    epoch = escrow.oracleSet()[2] + 1  # the epoch after the rotation below
    low, high, signer = malleable_pair(bytes(registry.checkDigest(c.as_tuple(), epoch)))
    escrow.setOracleSet([signer], 1, {"from": deployer})
    assert escrow.oracleSet()[2] == epoch
    with brownie.reverts(err("HardwareRegistryMalformedSignature(uint256)", 0)):
        registry.recordCheck(c.as_tuple(), [high], {"from": rando})
    registry.recordCheck(c.as_tuple(), [low], {"from": rando})
    with brownie.reverts(err("HardwareRegistryStaleCheck(uint256,uint64,uint64)", 1, c.checkedAt, c.checkedAt)):
        registry.recordCheck(c.as_tuple(), [high], {"from": rando})
