"""Gas per path for the gpusettle contracts: `make gas` (brownie run scripts/gas_report.py).

Prints a table and rewrites gas-snapshot.json, which is committed so that gas changes show up in review.
"Steady" rows are measured after the provider, client and treasury balances already exist (the common
case); "first" rows pay for storage slots going from zero to non-zero.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from brownie import ComputeToken, JobEscrow, LeaseEscrow, ProviderStaking, accounts, chain, web3
from eth_account import Account

from gpusettle.eip712 import Domain, attestation_digest, receipt_digest, receipts_hash, sign_digest
from gpusettle.models import JobReceipt

warnings.filterwarnings("ignore", category=FutureWarning)  # brownie's own rpc.* deprecation notes

SNAPSHOT = Path(__file__).resolve().parent.parent / "gas-snapshot.json"
TARGETS = {
    "settle (1 receipt, steady)": 75_000,
    "settleBatch 100: per job": 20_000,
    "openLease (steady)": 150_000,
    "topUp": 50_000,
    "submitCheckpoints 100: per lease": 25_000,
    "closeLease": 80_000,
    "reclaimLease": 80_000,
}

E18 = 10**18
PRICE = 10**15
PARAMS = [250, 2_000, 5_000, 10_000, 24 * 3600, 3600, 600, 10 * E18]
LEASE_PARAMS = [250, 3600, 5_000, 10_000, 24 * 3600, 3600, 600, 10 * E18]
# Offers: 8-GPU jobs on offers of 248 GPUs (31 jobs each: capacity is never sold twice, so a batch of 100 running
# jobs needs four of them); 1-GPU leases on their own offers.
JOB_GPUS = 8
OFFER_GPUS = 248
SPEC = b"\x5a" * 32
RESULT = "0x" + "a5" * 32
# Throwaway keys for a local chain only.
WORKER_KEY = "0x" + "11" * 32
ORACLE_KEY = "0x" + "21" * 32
# Block times are pinned (a fixed start, +1 s per block) so timestamps, hence signatures and calldata,
# are the same on every run: the snapshot then changes only when the code's gas does.
GENESIS_TIME = 1_900_000_000


def rpc(method: str, *params: int) -> None:
    web3.provider.make_request(method, list(params))  # type: ignore[arg-type]


def now() -> int:
    return int(web3.eth.get_block("latest")["timestamp"])


def advance(seconds: int) -> None:
    rpc("evm_setNextBlockTimestamp", now() + seconds)
    rpc("evm_mine")


class Bench:
    def __init__(self) -> None:
        rpc("anvil_setBlockTimestampInterval", 1)
        advance(max(GENESIS_TIME - now(), 1))
        self.deployer, self.client, self.provider, self.rando, self.guardian, self.arbiter, self.treasury = (
            accounts[0], accounts[1], accounts[2], accounts[3], accounts[4], accounts[5], accounts[6]
        )
        self.worker = accounts.add(WORKER_KEY)
        self.deployer.transfer(self.worker, "1 ether")
        oracle = Account.from_key(ORACLE_KEY).address
        d = self.deployer
        self.token = ComputeToken.deploy("gpusettle Compute", "GPUC", d, 10**9 * E18, {"from": d})
        self.staking = ProviderStaking.deploy(self.token, d, 100 * E18, 7 * 24 * 3600, {"from": d})
        self.escrow = JobEscrow.deploy(self.token, self.staking, d, self.guardian, self.arbiter, self.treasury,
                                       [oracle], 1, PARAMS, {"from": d})
        self.staking.setEscrow(self.escrow, {"from": d})
        self.lease = LeaseEscrow.deploy(self.token, self.staking, self.escrow, d, LEASE_PARAMS, {"from": d})
        self.staking.setLeaseEscrow(self.lease, {"from": d})
        self.domain = Domain(chain.id, self.escrow.address)
        for who in (self.client, self.provider):
            self.token.transfer(who, 10**7 * E18, {"from": d})
        self.token.approve(self.escrow, 2**256 - 1, {"from": self.client})
        self.token.approve(self.lease, 2**256 - 1, {"from": self.client})
        self.token.approve(self.staking, 2**256 - 1, {"from": self.provider})
        self.gas: dict[str, int] = {}

    def record(self, name: str, tx) -> None:  # type: ignore[no-untyped-def]
        self.gas[name] = tx.gas_used

    def setup_provider(self) -> None:
        self.record("stake (first)", self.staking.stake(5_000_000 * E18, {"from": self.provider}))
        self.record("stake (top-up)", self.staking.stake(1_000 * E18, {"from": self.provider}))
        self.staking.setWorker(self.worker, {"from": self.provider})
        for _ in range(4):
            self.staking.addOffer("NVIDIA H100 80GB HBM3", OFFER_GPUS, 80, PRICE, "ipfs://offer", {"from": self.provider})
        self.job_offers = [1, 2, 3, 4]

    def job_offer(self) -> int:
        for offer_id in self.job_offers:
            if int(self.staking.freeGpus(offer_id)) >= JOB_GPUS:
                return offer_id
        raise RuntimeError("no job offer has free GPUs: release settled jobs' GPUs first")

    def open_job(self, max_gpu_seconds: int = 3600, accept: bool = True, name: str | None = None) -> int:
        tx = self.escrow.createJob(self.job_offer(), max_gpu_seconds, now() + 7 * 24 * 3600, SPEC, JOB_GPUS, PRICE,
                                   {"from": self.client})
        if name:
            self.record(name, tx)
        job_id = int(tx.events["JobCreated"]["jobId"])
        if accept:
            atx = self.escrow.acceptJob(job_id, {"from": self.worker})
            if name:
                self.record("acceptJob", atx)
        return job_id

    def receipt(self, job_id: int, gpu_seconds: int = 1000) -> JobReceipt:
        accepted = int(self.escrow.getJob(job_id)["acceptedAt"])
        if now() < accepted + 200:
            advance(200)
        return JobReceipt(jobId=job_id, provider=self.provider.address, gpuSeconds=gpu_seconds,
                          startTime=accepted, endTime=accepted + 150, resultHash=RESULT, outcome=0)

    def settle(self, receipts: list[JobReceipt], batch: bool):  # type: ignore[no-untyped-def]
        epoch = int(self.escrow.oracleSet()[2])
        attestation = [sign_digest(attestation_digest(receipts_hash(receipts), epoch, self.domain), ORACLE_KEY)]
        sigs = [sign_digest(receipt_digest(r, self.domain), WORKER_KEY).as_tuple() for r in receipts]
        att = [s.as_tuple() for s in attestation]
        if batch:
            return self.escrow.settleBatch([r.as_tuple() for r in receipts], sigs, att, {"from": self.rando})
        return self.escrow.settle(receipts[0].as_tuple(), sigs[0], att, {"from": self.rando})

    def permit_job(self) -> None:
        owner = accounts.add("0x" + "31" * 32)
        self.deployer.transfer(owner, "1 ether")
        self.token.transfer(owner, 1_000 * E18, {"from": self.deployer})
        deposit = 3600 * PRICE
        deadline = now() + 3600
        nonce = self.token.nonces(owner)
        signed = Account.sign_typed_data(
            "0x" + "31" * 32,
            {"name": "gpusettle Compute", "version": "1", "chainId": chain.id, "verifyingContract": self.token.address},
            {"Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                        {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                        {"name": "deadline", "type": "uint256"}]},
            {"owner": owner.address, "spender": self.escrow.address, "value": deposit, "nonce": nonce,
             "deadline": deadline},
        )
        tx = self.escrow.createJobWithPermit(self.job_offer(), 3600, now() + 7 * 24 * 3600, SPEC, JOB_GPUS, PRICE,
                                             deadline, signed.v,
                                             signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"),
                                             {"from": owner})
        self.record("createJobWithPermit", tx)

    def release_settled(self, record: bool = False) -> None:
        """Give settled jobs' GPUs back (settlement leaves them reserved; see IJobEscrow.releaseJobGpus)."""
        held = [j for j in range(1, int(self.escrow.jobCount()) + 1) if int(self.escrow.getJob(j)["status"]) == 3]
        if not held:
            return
        tx = self.escrow.releaseJobGpus(held, {"from": self.rando})
        if record:
            self.record(f"releaseJobGpus ({len(held)} jobs): per job", tx)
            self.gas[f"releaseJobGpus ({len(held)} jobs): per job"] = tx.gas_used // len(held)

    # ------------------------------------------------------------------ leases

    def lease_offer(self, gpus: int = OFFER_GPUS, klass: int = 0, notice: int = 0) -> int:
        tx = self.staking.addOffer("NVIDIA H100 80GB HBM3", gpus, 80, PRICE, "ipfs://lease", {"from": self.provider})
        offer_id = int(tx.events["OfferAdded"]["offerId"])
        if klass:
            self.staking.setOfferAvailability(offer_id, klass, notice, 0, {"from": self.provider})
        return offer_id

    def open_lease(self, offer_id: int, name: str | None = None, hours: int = 24) -> int:
        tx = self.lease.openLease(offer_id, 1, PRICE, 2, 0, SPEC, PRICE * hours * 3600, 0, {"from": self.client})
        if name:
            self.record(name, tx)
        lease_id = int(tx.events["LeaseOpened"]["leaseId"])
        atx = self.lease.acceptLease(lease_id, {"from": self.worker})
        if name:
            self.record("acceptLease", atx)
        return lease_id

    def checkpoints(self, lease_ids: list[int], seconds: int = 600):  # type: ignore[no-untyped-def]
        from eth_abi import encode

        from gpusettle.hashing import keccak256

        typehash = keccak256(
            b"LeaseCheckpoint(uint256 leaseId,uint64 fromTime,uint64 toTime,uint64 upSeconds,uint64 downSeconds,"
            b"bytes32 heartbeatsRoot)"
        )
        root = b"\x77" * 32
        cps = []
        for lease_id in lease_ids:
            start = int(self.lease.getLease(lease_id)["paidThrough"])
            cps.append((lease_id, start, start + seconds, seconds - 10, 10, root))
        latest = max(c[2] for c in cps)
        if now() < latest:
            advance(latest - now() + 1)
        hashes = b"".join(
            keccak256(encode(["bytes32", "uint256", "uint64", "uint64", "uint64", "uint64", "bytes32"],
                             [typehash, *c])) for c in cps
        )
        epoch = int(self.escrow.oracleSet()[2])
        digest = bytes(self.lease.attestationDigest(keccak256(hashes), epoch))
        sig = sign_digest(digest, ORACLE_KEY).as_tuple()
        return self.lease.submitCheckpoints(cps, [sig], {"from": self.rando})

    def run_leases(self) -> None:
        offer = self.lease_offer()
        self.open_lease(offer, name="openLease (first)")
        first = self.open_lease(offer, name="openLease (steady)")
        self.record("topUp", self.lease.topUp(first, PRICE * 3600, {"from": self.client}))
        self.record("submitCheckpoints 1", self.checkpoints([first]))
        leases = [self.open_lease(offer) for _ in range(100)]
        self.checkpoints(leases)  # the first checkpoint of each
        tx = self.checkpoints(leases)
        self.record("submitCheckpoints 100: total", tx)
        self.gas["submitCheckpoints 100: per lease"] = tx.gas_used // 100
        self.record("closeLease", self.lease.closeLease(first, {"from": self.client}))
        end = int(self.lease.getLease(first)["billingEnd"])
        paid = int(self.lease.getLease(first)["paidThrough"])
        self.record("submitCheckpoints 1 (final)", self.checkpoints([first], seconds=end - paid))
        self.record("claimRefund", self.lease.claimRefund(first, {"from": self.client}))
        reclaimable = self.lease_offer(gpus=8, klass=1, notice=600)
        r = self.open_lease(reclaimable)
        self.record("reclaimLease", self.lease.reclaimLease(r, {"from": self.worker}))
        cancelled = self.lease.openLease(offer, 1, PRICE, 2, 0, SPEC, PRICE * 3600, 0, {"from": self.client})
        self.record("cancelLease", self.lease.cancelLease(int(cancelled.events["LeaseOpened"]["leaseId"]),
                                                          {"from": self.client}))
        self.record("withdrawEarnings (leases)", self.lease.withdrawEarnings({"from": self.provider}))
        advance(24 * 3600 + 1)
        self.record("releaseLeaseCollateral (1 lease)", self.lease.releaseLeaseCollateral([first], {"from": self.rando}))
        advance(600)
        self.record("claimLeaseExpiry", self.lease.claimLeaseExpiry(r, {"from": self.client}))

    def run(self) -> dict[str, int]:
        self.setup_provider()
        first = self.open_job(name="createJob (approve path)")
        self.permit_job()
        self.record("settle (1 receipt, first for provider)", self.settle([self.receipt(first)], batch=False))
        self.record("settle (1 receipt, steady)", self.settle([self.receipt(self.open_job())], batch=False))
        self.settled = [first]
        for n in (1, 10, 50, 100):
            self.release_settled()
            jobs = [self.open_job() for _ in range(n)]
            tx = self.settle([self.receipt(j) for j in jobs], batch=True)
            self.record(f"settleBatch {n}: total", tx)
            self.gas[f"settleBatch {n}: per job"] = tx.gas_used // n
            self.settled += jobs
        self.release_settled(record=True)
        self.record("claimRefunds (1 job)", self.escrow.claimRefunds([first], {"from": self.client}))
        self.record("withdrawEarnings", self.escrow.withdrawEarnings({"from": self.provider}))
        self.record("withdrawFees", self.escrow.withdrawFees({"from": self.rando}))
        cancelled = self.open_job(accept=False)
        self.record("cancelJob", self.escrow.cancelJob(cancelled, {"from": self.client}))
        for upheld in (False, True):
            job = self.open_job()
            self.settle([self.receipt(job)], batch=False)
            self.record("dispute", self.escrow.dispute(job, b"\x01" * 32, {"from": self.client}))
            name = "resolveDispute (upheld)" if upheld else "resolveDispute (rejected)"
            self.record(name, self.escrow.resolveDispute(job, upheld, {"from": self.arbiter}))
        self.staking.unjail(self.provider, {"from": self.deployer})
        # A dispute nobody rules on lapses after the ruling period (14 days by default).
        unruled = self.open_job()
        self.settle([self.receipt(unruled)], batch=False)
        self.escrow.dispute(unruled, b"\x02" * 32, {"from": self.client})
        advance(self.escrow.rulingPeriod() + 1)
        self.record("closeUnruledDispute", self.escrow.closeUnruledDispute(unruled, {"from": self.rando}))
        late = self.open_job(max_gpu_seconds=100)
        advance(8 * 24 * 3600)
        self.record("claimTimeout", self.escrow.claimTimeout(late, {"from": self.client}))
        self.record("releaseCollateral (1 job)", self.escrow.releaseCollateral([first], {"from": self.rando}))
        self.record("requestUnstake", self.staking.requestUnstake(1_000 * E18, {"from": self.provider}))
        advance(7 * 24 * 3600 + 1)
        self.record("withdraw (unbonded stake)", self.staking.withdraw({"from": self.provider}))
        self.run_leases()
        # The provider now has leases' collateral locked: settlement also asks the lease escrow for it. The first
        # settlement after the lease rows refills slots they emptied (withdrawn earnings); the second is the steady one.
        self.settle([self.receipt(self.open_job())], batch=False)
        self.record("settle (1 receipt, provider with leases)", self.settle([self.receipt(self.open_job())], batch=False))
        self.run_lease_disputes()
        return self.gas

    def run_lease_disputes(self) -> None:
        """Checkpoint disputes, last (an upheld ruling jails the provider). Issue 11: a dispute freezes what its
        ruling can slash beyond the lease's collateral; a 600-s checkpoint pays less than the collateral (an hour of
        the rate) and freezes nothing, a two-hour one freezes the rest of its slash."""
        offer = self.lease_offer()
        small = self.open_lease(offer)
        self.checkpoints([small])
        self.record("disputeCheckpoint", self.lease.disputeCheckpoint(small, b"\x03" * 32, {"from": self.client}))
        self.record("resolveCheckpointDispute (rejected)",
                    self.lease.resolveCheckpointDispute(small, False, {"from": self.arbiter}))
        # Its next checkpoint disputed and never ruled on: it lapses after the job escrow's ruling period.
        self.checkpoints([small])
        self.lease.disputeCheckpoint(small, b"\x05" * 32, {"from": self.client})
        advance(self.escrow.rulingPeriod() + 1)
        self.record("closeUnruledCheckpointDispute",
                    self.lease.closeUnruledCheckpointDispute(small, {"from": self.rando}))
        large = self.open_lease(offer)
        self.checkpoints([large], seconds=2 * 3600)
        self.record("disputeCheckpoint (freezing)",
                    self.lease.disputeCheckpoint(large, b"\x04" * 32, {"from": self.client}))
        self.record("resolveCheckpointDispute (upheld, freezing)",
                    self.lease.resolveCheckpointDispute(large, True, {"from": self.arbiter}))


def main() -> None:
    # brownie 1.22 can report a slow, mined transaction (a batch of 100) as dropped; see tests/helpers/dropped_tx.py.
    from tests.helpers import dropped_tx

    dropped_tx.install()
    gas = Bench().run()
    previous = json.loads(SNAPSHOT.read_text())["gas"] if SNAPSHOT.exists() else {}
    width = max(len(k) for k in gas)
    print(f"\n{'path':<{width}}  {'gas':>10}  {'change':>8}  target")
    for name, used in gas.items():
        change = used - previous[name] if name in previous else None
        target = TARGETS.get(name)
        verdict = "" if target is None else f"<= {target:,} {'met' if used <= target else 'MISSED'}"
        print(f"{name:<{width}}  {used:>10,}  {'' if change is None else f'{change:+,}':>8}  {verdict}")
    SNAPSHOT.write_text(json.dumps({"gas": gas, "targets": TARGETS}, indent=2) + "\n")
    print(f"\nwrote {SNAPSHOT.name}")
