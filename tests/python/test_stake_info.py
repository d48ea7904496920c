"""StakeInfo (gpusettle.chain.client): free and unstakeable stake as ProviderStaking computes them, with the lease
escrow's collateral and the freeze of open lease disputes (issue 11) counted beside the job escrow's."""

from gpusettle.chain.client import StakeInfo


def info(**kw):
    base = {"provider": "0x" + "11" * 20, "bonded": 1_000, "unbonding": 0, "release_at": 0, "jailed": False,
            "locked_collateral": 100, "open_disputes": 1, "disputable_until": 0, "worker": None}
    return StakeInfo(**{**base, **kw})


def test_free_stake_counts_both_escrows_collateral():
    assert info().free == 900
    assert info(lease_locked_collateral=200).free == 700
    assert info(lease_locked_collateral=2_000).free == 0


def test_unstakeable_stake_leaves_both_escrows_freezes():
    assert info(dispute_frozen=50).unstakeable == 850
    assert info(dispute_frozen=50, lease_locked_collateral=200, lease_open_disputes=1,
                lease_dispute_frozen=150).unstakeable == 500
    assert info(lease_dispute_frozen=5_000).unstakeable == 0
