"""`Gpusettle`: typed access to a deployed gpusettle suite over web3.py.

Reads return small dataclasses with integer amounts in base units; writes are planned first
(`plan_*` methods return a TxPlan with the gas estimate and fees, raising the decoded ContractError
when the call would revert) and then sent with `send`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from ..errors import ConfigError, GpusettleError, WrongChainError
from ..models import DeploymentRecord
from .abi import CONTRACT_NAMES, Artifact, load_artifacts
from .logs import reader_for
from .revert import JOB_STATUS_NAMES, ErrorDecoder
from .tx import Chain, DecodedEvent, Signer, TxOutcome, TxPlan, sender_address

__all__ = [
    "ESCROW_PARAMETERS",
    "LEASE_PARAMETERS",
    "ROLE_IDS",
    "STAKING_PARAMETERS",
    "EscrowParameters",
    "Gpusettle",
    "JobCreatedEvent",
    "JobInfo",
    "OfferInfo",
    "OracleSet",
    "ProviderRecord",
    "Roles",
    "StakeInfo",
    "contract_key",
]

ESCROW_PARAMETERS: tuple[str, ...] = (
    "fee_bps",
    "collateral_bps",
    "timeout_slash_bps",
    "dispute_slash_bps",
    "dispute_window",
    "accept_window",
    "timeout_grace",
    "dispute_bond",
    "min_run_time",
    "ruling_period",
)
"""JobEscrow.setParameter's parameters, by index: IJobEscrowTypes.JobParameter's members in snake case
(tests/python/test_parameter_names.py holds the two together)."""

LEASE_PARAMETERS: tuple[str, ...] = (
    "lease_fee_bps",
    "lease_collateral_seconds",
    "lease_expiry_slash_bps",
    "lease_dispute_slash_bps",
    "lease_dispute_window",
    "lease_accept_window",
    "lease_grace",
    "lease_dispute_bond",
)
"""LeaseEscrow.setParameter's parameters, by index: ILeaseEscrowTypes.LeaseParameter's members in snake case with
`lease_` in front (the names the deployment settings use)."""

STAKING_PARAMETERS: tuple[str, ...] = ("min_stake", "unbonding_period")
"""ProviderStaking.setParameter's parameters, by index: IProviderStaking.StakingParameter's members."""

ROLE_IDS: dict[str, int] = {"treasury": 0, "guardian": 1, "arbiter": 2}
"""JobEscrow.setRole's roles: IJobEscrowTypes.Role's members."""

_RECORD_KEYS = {
    "ComputeToken": "token",
    "ProviderStaking": "staking",
    "JobEscrow": "escrow",
    "LeaseEscrow": "leaseEscrow",
    "HardwareRegistry": "hardwareRegistry",
}
_OPTIONAL_CONTRACTS = frozenset({"LeaseEscrow", "HardwareRegistry"})
"""Contracts a record written before they existed may lack (the client then has no lease escrow)."""


def contract_key(name: str) -> str:
    """The key of contract `name` in a deployment record's `addresses` (token, staking, escrow, leaseEscrow,
    hardwareRegistry)."""
    return _RECORD_KEYS[name]


@dataclass(frozen=True)
class StakeInfo:
    """A provider's stake as ProviderStaking and JobEscrow see it."""

    provider: str
    bonded: int
    unbonding: int
    release_at: int
    """Unix time when the unbonding stake can be withdrawn (0 when nothing is unbonding)."""
    jailed: bool
    locked_collateral: int
    open_disputes: int
    disputable_until: int
    """Until then a settled job of this provider can still be disputed, and unbonded stake stays (0: none)."""
    worker: str | None
    dispute_frozen: int = 0
    """What open job disputes can slash beyond their locked reserves: kept in free stake, not unstakeable."""
    lease_locked_collateral: int = 0
    """Collateral the lease escrow holds for the provider's accepted leases (0 without a lease escrow)."""
    lease_open_disputes: int = 0
    lease_dispute_frozen: int = 0
    """What open checkpoint disputes can slash beyond their leases' collateral: kept in free stake, not unstakeable."""
    fraud_debt: int = 0
    """What the provider owes for fraud reports its stake could not cover at once: kept in free stake, not
    unstakeable, and taken by no slash but its collection (`gpusettle job collect-fraud-debt`)."""

    @property
    def free(self) -> int:
        """Bonded stake that no job or lease holds as collateral: what can back new work."""
        return max(self.bonded - self.locked_collateral - self.lease_locked_collateral, 0)

    @property
    def unstakeable(self) -> int:
        """Free stake less what open job and lease disputes froze and the fraud debt: what requestUnstake accepts
        now."""
        return max(self.free - self.dispute_frozen - self.lease_dispute_frozen - self.fraud_debt, 0)


@dataclass(frozen=True)
class ProviderRecord:
    """IJobEscrow.ProviderRecord."""

    locked_collateral: int
    earnings: int
    gpu_seconds_served: int
    jobs_completed: int
    jobs_failed: int
    jobs_timed_out: int
    disputes_lost: int
    open_disputes: int
    total_slashed: int
    value_paid: int  # what clients paid for its settled jobs, before the fee: the reputation figure to read


@dataclass(frozen=True)
class OfferInfo:
    """IProviderStaking.Offer with its id."""

    offer_id: int
    provider: str
    price_per_gpu_second: int
    gpu_count: int
    vram_gb: int
    active: bool
    gpu_model: str
    metadata_uri: str
    paused: bool = False
    """Takes no new job or lease (the provider or its worker paused it; a withdrawn offer is paused too)."""


@dataclass(frozen=True)
class JobInfo:
    """IJobEscrow.JobView with its id and the status by name."""

    job_id: int
    status: str
    client: str
    provider: str
    offer_id: int
    price_per_gpu_second: int
    max_gpu_seconds: int
    gpu_count: int
    deposit: int
    collateral: int
    accept_by: int
    accepted_at: int
    deadline: int
    billed_gpu_seconds: int
    settled_at: int
    refundable: int
    spec_hash: str
    dispute_bond: int


@dataclass(frozen=True)
class JobCreatedEvent:
    """One JobCreated log."""

    job_id: int
    client: str
    provider: str
    offer_id: int
    price_per_gpu_second: int
    max_gpu_seconds: int
    deadline: int
    accept_by: int
    spec_hash: str
    collateral: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class EscrowParameters:
    """JobEscrow.parameters() by name, the staking parameters, and LeaseEscrow.parameters() (for new leases) where
    the deployment has a lease escrow."""

    fee_bps: int
    collateral_bps: int
    timeout_slash_bps: int
    dispute_slash_bps: int
    dispute_window: int
    accept_window: int
    timeout_grace: int
    dispute_bond: int
    min_run_time: int
    ruling_period: int
    min_stake: int
    unbonding_period: int
    lease: dict[str, int] = field(default_factory=dict)
    """LEASE_PARAMETERS name → value; empty without a lease escrow."""

    def as_dict(self) -> dict[str, int]:
        """Name → value, the lease escrow's included."""
        out = {k: v for k, v in asdict(self).items() if k != "lease"}
        out.update(self.lease)
        return out


@dataclass(frozen=True)
class OracleSet:
    """The escrow's oracle set."""

    oracles: tuple[str, ...]
    threshold: int
    epoch: int


@dataclass(frozen=True)
class Roles:
    """Who holds which role."""

    governance: str
    staking_governance: str
    treasury: str
    guardian: str
    arbiter: str


def _hex32(value: Any) -> str:
    return "0x" + bytes(value).hex()


def decode_job(job_id: int, j: Sequence[Any]) -> JobInfo:
    """JobEscrow.getJob's JobView tuple, as a JobInfo."""
    status = int(j[0])
    return JobInfo(
        job_id=job_id,
        status=JOB_STATUS_NAMES[status] if status < len(JOB_STATUS_NAMES) else str(status),
        client=to_checksum_address(j[1]),
        provider=to_checksum_address(j[2]),
        offer_id=int(j[3]),
        price_per_gpu_second=int(j[4]),
        max_gpu_seconds=int(j[5]),
        gpu_count=int(j[6]),
        deposit=int(j[7]),
        collateral=int(j[8]),
        accept_by=int(j[9]),
        accepted_at=int(j[10]),
        deadline=int(j[11]),
        billed_gpu_seconds=int(j[12]),
        settled_at=int(j[13]),
        refundable=int(j[14]),
        spec_hash=_hex32(j[15]),
        dispute_bond=int(j[16]),
    )


class Gpusettle:
    """A deployed gpusettle suite on one chain."""

    def __init__(
        self, chain: Chain, record: DeploymentRecord, artifacts: dict[str, Artifact] | None = None
    ) -> None:
        if chain.chain_id != record.chain_id:
            raise WrongChainError(record.chain_id, chain.chain_id, record.network)
        self.chain = chain
        self.record = record
        self.artifacts = artifacts or load_artifacts()
        missing = [
            contract_key(n)
            for n in CONTRACT_NAMES
            if n not in _OPTIONAL_CONTRACTS and contract_key(n) not in record.addresses
        ]
        if missing:
            raise ConfigError(
                f"the deployment record for chain {record.chain_id} has no address for {', '.join(missing)}",
                "finish the deployment with `gpusettle deploy`",
            )
        w3 = chain.w3
        self.token: Contract = w3.eth.contract(
            address=to_checksum_address(record.addresses["token"]),
            abi=cast(Any, self.artifacts["ComputeToken"].abi),
        )
        self.staking: Contract = w3.eth.contract(
            address=to_checksum_address(record.addresses["staking"]),
            abi=cast(Any, self.artifacts["ProviderStaking"].abi),
        )
        self.escrow: Contract = w3.eth.contract(
            address=to_checksum_address(record.addresses["escrow"]),
            abi=cast(Any, self.artifacts["JobEscrow"].abi),
        )
        chain.register_contract("ComputeToken", self.token)
        chain.register_contract("ProviderStaking", self.staking)
        chain.register_contract("JobEscrow", self.escrow)
        lease_address = record.addresses.get("leaseEscrow")
        self.lease_escrow: Contract | None = None
        """The lease escrow (None for a record written before leases existed)."""
        if lease_address and "LeaseEscrow" in self.artifacts:
            self.lease_escrow = w3.eth.contract(
                address=to_checksum_address(lease_address), abi=cast(Any, self.artifacts["LeaseEscrow"].abi)
            )
            chain.register_contract("LeaseEscrow", self.lease_escrow)
        hardware_address = record.addresses.get("hardwareRegistry")
        self.hardware_registry: Contract | None = None
        """The hardware registry (None for a record written before it existed)."""
        if hardware_address and "HardwareRegistry" in self.artifacts:
            self.hardware_registry = w3.eth.contract(
                address=to_checksum_address(hardware_address),
                abi=cast(Any, self.artifacts["HardwareRegistry"].abi),
            )
            chain.register_contract("HardwareRegistry", self.hardware_registry)
        self._decimals: int | None = None
        self._symbol: str | None = None
        chain.decoder = ErrorDecoder(a.abi for a in self.artifacts.values())

    @classmethod
    def connect(
        cls,
        rpc_url: str,
        record: DeploymentRecord,
        *,
        timeout: float = 180.0,
        check_code: bool = True,
        artifacts: dict[str, Artifact] | None = None,
    ) -> Gpusettle:
        """Connect to `rpc_url`, refuse a chain other than the record's, and check the escrow has code."""
        chain = Chain.connect(
            rpc_url, expected_chain_id=record.chain_id, network=record.network, timeout=timeout
        )
        client = cls(chain, record, artifacts)
        if check_code and not chain.code(client.escrow.address):
            raise ConfigError(
                f"no contract at the escrow address {client.escrow.address} on chain {record.chain_id}",
                "the chain was reset or the record is stale: deploy again (gpusettle deploy)",
            )
        client._refresh_decoder()
        return client

    def _refresh_decoder(self) -> None:
        self.chain.decoder = ErrorDecoder(
            (a.abi for a in self.artifacts.values()), decimals=self.decimals, symbol=self.symbol
        )

    def _call(self, contract: Contract, fn: str, *args: Any) -> Any:
        def run() -> Any:
            return getattr(contract.functions, fn)(*args).call()

        try:
            return self.chain.rpc(run)
        except GpusettleError:
            raise
        except Exception as exc:
            decoded = self.chain.contract_error(exc)
            if decoded is not None:
                raise decoded from None
            raise

    # -- token -----------------------------------------------------------------------------------------

    @property
    def decimals(self) -> int:
        """The token's decimals (read once)."""
        if self._decimals is None:
            self._decimals = int(self._call(self.token, "decimals"))
        return self._decimals

    @property
    def symbol(self) -> str:
        """The token's symbol (read once)."""
        if self._symbol is None:
            self._symbol = str(self._call(self.token, "symbol"))
        return self._symbol

    def token_balance(self, owner: str) -> int:
        """Token balance of `owner` in base units."""
        return int(self._call(self.token, "balanceOf", to_checksum_address(owner)))

    def allowance(self, owner: str, spender: str) -> int:
        """How much `spender` may take from `owner`."""
        return int(
            self._call(self.token, "allowance", to_checksum_address(owner), to_checksum_address(spender))
        )

    def plan_transfer(self, sender: str, to: str, amount: int, description: str) -> TxPlan:
        """Plan token.transfer."""
        return self.chain.plan_call(
            description, sender, self.token, "transfer", to_checksum_address(to), amount
        )

    def plan_approve(self, sender: str, spender: str, amount: int, description: str) -> TxPlan:
        """Plan token.approve."""
        return self.chain.plan_call(
            description, sender, self.token, "approve", to_checksum_address(spender), amount
        )

    def sign_permit(
        self, owner: LocalAccount, spender: str, value: int, deadline: int
    ) -> tuple[int, bytes, bytes]:
        """An EIP-2612 permit of `value` for `spender` until `deadline`, as (v, r, s)."""
        _, name, version, chain_id, verifying, _, _ = self._call(self.token, "eip712Domain")
        nonce = int(self._call(self.token, "nonces", owner.address))
        signed = owner.sign_typed_data(
            domain_data={
                "name": name,
                "version": version,
                "chainId": int(chain_id),
                "verifyingContract": verifying,
            },
            message_types={
                "Permit": [
                    {"name": "owner", "type": "address"},
                    {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ]
            },
            message_data={
                "owner": owner.address,
                "spender": to_checksum_address(spender),
                "value": value,
                "nonce": nonce,
                "deadline": deadline,
            },
        )
        return int(signed.v), int(signed.r).to_bytes(32, "big"), int(signed.s).to_bytes(32, "big")

    # -- staking ---------------------------------------------------------------------------------------

    def stake_info(self, provider: str) -> StakeInfo:
        """Bonded, unbonding (with release time), locked collateral, jail flag and worker of `provider`."""
        addr = to_checksum_address(provider)
        bonded, unbonding, release_at, jailed = self._call(self.staking, "stakeOf", addr)
        blockers = self._call(self.escrow, "unstakeBlockers", addr)
        locked, disputes = blockers[0], blockers[1]
        disputable_until = int(blockers[2]) if len(blockers) > 2 else 0
        frozen = int(blockers[3]) if len(blockers) > 3 else 0
        lease: tuple[int, ...] = (0, 0, 0, 0)
        if self.lease_escrow is not None:
            values = tuple(int(x) for x in self._call(self.lease_escrow, "unstakeBlockers", addr))
            lease = values + (0,) * (
                4 - len(values)
            )  # one from before issue 11's freeze reports three values
        worker = str(self._call(self.staking, "workerOf", addr))
        # The escrow counts owed fraud debts as one more open dispute and adds them to the frozen sum: apart here.
        debt = self.fraud_debt_of(addr)[0] if int(disputes) else 0
        if debt:
            disputes, frozen = int(disputes) - 1, frozen - debt
        return StakeInfo(
            provider=addr,
            bonded=int(bonded),
            unbonding=int(unbonding),
            release_at=int(release_at),
            jailed=bool(jailed),
            locked_collateral=int(locked),
            open_disputes=int(disputes),
            disputable_until=disputable_until,
            dispute_frozen=frozen,
            lease_locked_collateral=lease[0],
            lease_open_disputes=lease[1],
            lease_dispute_frozen=lease[3],
            fraud_debt=debt,
            worker=None if int(worker, 16) == 0 else to_checksum_address(worker),
        )

    def is_jailed(self, provider: str) -> bool:
        """Whether `provider` is jailed (it lost a dispute or a fraud report): it takes no new work."""
        return bool(self._call(self.staking, "stakeOf", to_checksum_address(provider))[3])

    def provider_record(self, provider: str) -> ProviderRecord:
        """The escrow's record of `provider`'s work."""
        r = self._call(self.escrow, "providerRecord", to_checksum_address(provider))
        return ProviderRecord(*(int(x) for x in r))

    def offer(self, offer_id: int) -> OfferInfo:
        """Offer `offer_id` (ContractError ProviderStakingUnknownOffer if none)."""
        o = self._call(self.staking, "offer", offer_id)
        return OfferInfo(
            offer_id=offer_id,
            provider=to_checksum_address(o[0]),
            price_per_gpu_second=int(o[1]),
            gpu_count=int(o[2]),
            vram_gb=int(o[3]),
            active=bool(o[4]),
            gpu_model=str(o[5]),
            metadata_uri=str(o[6]),
            paused=bool(o[10]) if len(o) > 10 else False,
        )

    def free_gpus(self, offer_id: int) -> int:
        """GPUs of offer `offer_id` no job or lease holds (settled jobs hold theirs until released)."""
        return int(self._call(self.staking, "freeGpus", offer_id))

    def is_verified(self, offer_id: int, max_age: int = 0) -> bool | None:
        """HardwareRegistry.isVerified: the latest hardware check passed and covers the offer's terms (and is at
        most `max_age` seconds old when not 0); None when the deployment has no registry."""
        if self.hardware_registry is None:
            return None
        return bool(self._call(self.hardware_registry, "isVerified", offer_id, max_age))

    def hardware_checked_at(self, offer_id: int) -> int | None:
        """When `offer_id`'s latest recorded hardware check was made (0: never checked); None when the deployment
        has no registry."""
        if self.hardware_registry is None:
            return None
        return int(self._call(self.hardware_registry, "latestCheck", offer_id)[0])

    def offer_count(self) -> int:
        """Offers ever published."""
        return int(self._call(self.staking, "offerCount"))

    def offers(self, provider: str | None = None, *, active_only: bool = False) -> list[OfferInfo]:
        """Offers (of `provider` when given), read from OfferAdded events and then their current state."""
        filters = {"provider": to_checksum_address(provider)} if provider else None
        ids = sorted({int(log["args"]["offerId"]) for log in self._logs(self.staking, "OfferAdded", filters)})
        out = [self.offer(i) for i in ids]
        return [o for o in out if o.active] if active_only else out

    def staking_parameters(self) -> tuple[int, int]:
        """(minimum stake, unbonding period)."""
        return int(self._call(self.staking, "minStake")), int(self._call(self.staking, "unbondingPeriod"))

    def plan_stake(self, sender: str, amount: int) -> TxPlan:
        """Plan staking.stake (needs an allowance to the staking contract)."""
        return self.chain.plan_call(
            f"stake {self.fmt(amount)} into ProviderStaking {self.staking.address}",
            sender,
            self.staking,
            "stake",
            amount,
        )

    def plan_stake_with_permit(self, owner: LocalAccount, amount: int, deadline: int) -> TxPlan:
        """Plan staking.stakeWithPermit with a fresh permit signed by `owner`."""
        v, r, s = self.sign_permit(owner, self.staking.address, amount, deadline)
        return self.chain.plan_call(
            f"stake {self.fmt(amount)} (with a permit) into ProviderStaking {self.staking.address}",
            owner.address,
            self.staking,
            "stakeWithPermit",
            amount,
            deadline,
            v,
            r,
            s,
        )

    def plan_request_unstake(self, sender: str, amount: int) -> TxPlan:
        """Plan staking.requestUnstake."""
        _, period = self.staking_parameters()
        return self.chain.plan_call(
            f"move {self.fmt(amount)} of stake to unbonding (released {period} s after this request)",
            sender,
            self.staking,
            "requestUnstake",
            amount,
        )

    def plan_withdraw_stake(self, sender: str) -> TxPlan:
        """Plan staking.withdraw."""
        info = self.stake_info(sender)
        return self.chain.plan_call(
            f"withdraw {self.fmt(info.unbonding)} of released stake", sender, self.staking, "withdraw"
        )

    def plan_set_worker(self, sender: str, worker: str) -> TxPlan:
        """Plan staking.setWorker."""
        w = to_checksum_address(worker)
        return self.chain.plan_call(f"name {w} as the worker key", sender, self.staking, "setWorker", w)

    def plan_add_offer(
        self, sender: str, gpu_model: str, gpu_count: int, vram_gb: int, price: int, metadata_uri: str
    ) -> TxPlan:
        """Plan staking.addOffer."""
        return self.chain.plan_call(
            f"publish an offer: {gpu_count} x {gpu_model} ({vram_gb} GB) at {self.fmt(price)} per GPU-second",
            sender,
            self.staking,
            "addOffer",
            gpu_model,
            gpu_count,
            vram_gb,
            price,
            metadata_uri,
        )

    def plan_update_offer(
        self, sender: str, offer_id: int, gpu_count: int, vram_gb: int, price: int, metadata_uri: str
    ) -> TxPlan:
        """Plan staking.updateOffer."""
        return self.chain.plan_call(
            f"update offer {offer_id}: {gpu_count} GPUs ({vram_gb} GB) at {self.fmt(price)} per GPU-second",
            sender,
            self.staking,
            "updateOffer",
            offer_id,
            gpu_count,
            vram_gb,
            price,
            metadata_uri,
        )

    def plan_withdraw_offer(self, sender: str, offer_id: int) -> TxPlan:
        """Plan staking.withdrawOffer."""
        return self.chain.plan_call(
            f"withdraw offer {offer_id}", sender, self.staking, "withdrawOffer", offer_id
        )

    # -- jobs ------------------------------------------------------------------------------------------

    def job(self, job_id: int) -> JobInfo:
        """Job `job_id`, decoded (ContractError JobEscrowUnknownJob if none)."""
        return decode_job(job_id, self._call(self.escrow, "getJob", job_id))

    def withheld_pay(self, job_id: int) -> int:
        """Pay of settled job `job_id` the escrow withholds until its dispute window closes (0 if none)."""
        return int(self._call(self.escrow, "withheldPay", job_id))

    def fraud_debt(self, job_id: int) -> int:
        """What job `job_id`'s client is still owed for fraud: what its fraud report could not slash (0 if none)."""
        return int(self._call(self.escrow, "fraudDebt", job_id))

    def fraud_debt_of(self, provider: str) -> tuple[int, int]:
        """What `provider` owes for fraud in all, and to how many jobs."""
        owed, debts = self._call(self.escrow, "fraudDebtOf", to_checksum_address(provider))
        return int(owed), int(debts)

    def min_run_time(self) -> int:
        """Seconds a job's deadline must leave after its acceptance (JobParameter.MinRunTime)."""
        return int(self._call(self.escrow, "minRunTime"))

    def job_count(self) -> int:
        """Jobs ever created."""
        return int(self._call(self.escrow, "jobCount"))

    def jobs_created(
        self, *, client: str | None = None, provider: str | None = None
    ) -> list[JobCreatedEvent]:
        """JobCreated events since the deployment, filtered by client and/or provider."""
        filters: dict[str, Any] = {}
        if client:
            filters["client"] = to_checksum_address(client)
        if provider:
            filters["provider"] = to_checksum_address(provider)
        out = []
        for log in self._logs(self.escrow, "JobCreated", filters or None):
            a = log["args"]
            out.append(
                JobCreatedEvent(
                    job_id=int(a["jobId"]),
                    client=to_checksum_address(a["client"]),
                    provider=to_checksum_address(a["provider"]),
                    offer_id=int(a["offerId"]),
                    price_per_gpu_second=int(a["pricePerGpuSecond"]),
                    max_gpu_seconds=int(a["maxGpuSeconds"]),
                    deadline=int(a["deadline"]),
                    accept_by=int(a["acceptBy"]),
                    spec_hash=_hex32(a["specHash"]),
                    collateral=int(a["collateral"]),
                    block_number=int(log["blockNumber"]),
                    tx_hash=log["transactionHash"].to_0x_hex(),
                )
            )
        return sorted(out, key=lambda e: e.job_id)

    def events(self, contract: str, event: str, **filters: Any) -> list[DecodedEvent]:
        """Any event of `contract` (token, staking or escrow) since the deployment, filtered by indexed args."""
        c = {"token": self.token, "staking": self.staking, "escrow": self.escrow}[contract]
        return [
            DecodedEvent(
                contract=contract,
                name=event,
                args=dict(log["args"]),
                address=to_checksum_address(log["address"]),
                log_index=int(log["logIndex"]),
            )
            for log in self._logs(c, event, filters or None)
        ]

    def _logs(self, contract: Contract, event: str, filters: dict[str, Any] | None) -> Iterator[Any]:
        latest = self.chain.block_number()
        ev = getattr(contract.events, event)
        reader = reader_for(self.chain.w3)
        yield from self.chain.rpc(lambda: reader.events(ev, self.record.deploy_block, latest, filters))

    def plan_create_job(
        self,
        sender: str,
        offer_id: int,
        max_gpu_seconds: int,
        deadline: int,
        spec_hash: bytes,
        *,
        gpu_count: int | None = None,
        max_price: int | None = None,
    ) -> TxPlan:
        """Plan escrow.createJob (needs an allowance for the deposit). `gpu_count` and `max_price` are the
        client's limits (default: the offer as read now); the call reverts if the offer changed beyond them."""
        gpus, price = self._limits(offer_id, gpu_count, max_price)
        return self.chain.plan_call(
            self._job_description(offer_id, max_gpu_seconds, deadline),
            sender,
            self.escrow,
            "createJob",
            offer_id,
            max_gpu_seconds,
            deadline,
            spec_hash,
            gpus,
            price,
        )

    def _limits(self, offer_id: int, gpu_count: int | None, max_price: int | None) -> tuple[int, int]:
        if gpu_count is not None and max_price is not None:
            return gpu_count, max_price
        offer = self.offer(offer_id)
        return (
            offer.gpu_count if gpu_count is None else gpu_count,
            offer.price_per_gpu_second if max_price is None else max_price,
        )

    def plan_create_job_with_permit(
        self,
        owner: LocalAccount,
        offer_id: int,
        max_gpu_seconds: int,
        deadline: int,
        spec_hash: bytes,
        *,
        permit_deadline: int | None = None,
        gpu_count: int | None = None,
        max_price: int | None = None,
    ) -> TxPlan:
        """Plan escrow.createJobWithPermit, signing a permit for the most the job can cost (price limit x
        GPU-seconds, the deposit itself when the limit is the offer's price)."""
        gpus, price = self._limits(offer_id, gpu_count, max_price)
        deposit = price * max_gpu_seconds
        pd = permit_deadline if permit_deadline is not None else self.chain.timestamp() + 3600
        v, r, s = self.sign_permit(owner, self.escrow.address, deposit, pd)
        return self.chain.plan_call(
            self._job_description(offer_id, max_gpu_seconds, deadline) + " (deposit approved by permit)",
            owner.address,
            self.escrow,
            "createJobWithPermit",
            offer_id,
            max_gpu_seconds,
            deadline,
            spec_hash,
            gpus,
            price,
            pd,
            v,
            r,
            s,
        )

    def _job_description(self, offer_id: int, max_gpu_seconds: int, deadline: int) -> str:
        offer = self.offer(offer_id)
        deposit = offer.price_per_gpu_second * max_gpu_seconds
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(deadline))
        return (
            f"open a job on offer {offer_id} ({offer.gpu_count} x {offer.gpu_model}) for up to {max_gpu_seconds:,} "
            f"GPU-seconds, deadline {when}: deposit {self.fmt(deposit)} into JobEscrow {self.escrow.address}"
        )

    def plan_cancel_job(self, sender: str, job_id: int) -> TxPlan:
        """Plan escrow.cancelJob."""
        j = self.job(job_id)
        return self.chain.plan_call(
            f"cancel job {job_id}: refund {self.fmt(j.deposit)} to {j.client}",
            sender,
            self.escrow,
            "cancelJob",
            job_id,
        )

    def plan_accept_job(self, sender: str, job_id: int) -> TxPlan:
        """Plan escrow.acceptJob."""
        return self.chain.plan_call(f"accept job {job_id}", sender, self.escrow, "acceptJob", job_id)

    def plan_claim_timeout(self, sender: str, job_id: int) -> TxPlan:
        """Plan escrow.claimTimeout."""
        j = self.job(job_id)
        return self.chain.plan_call(
            f"claim the timeout of job {job_id}: refund {self.fmt(j.deposit)} to {j.client} and slash part of "
            "the collateral to it",
            sender,
            self.escrow,
            "claimTimeout",
            job_id,
        )

    def plan_claim_refunds(self, sender: str, job_ids: Sequence[int]) -> TxPlan:
        """Plan escrow.claimRefunds."""
        total = sum(self.job(j).refundable for j in job_ids)
        return self.chain.plan_call(
            f"claim the unused deposits of jobs {', '.join(map(str, job_ids))}: {self.fmt(total)}",
            sender,
            self.escrow,
            "claimRefunds",
            list(job_ids),
        )

    def plan_dispute(self, sender: str, job_id: int, reason_hash: bytes) -> TxPlan:
        """Plan escrow.dispute (needs an allowance for the dispute bond)."""
        bond = self.parameters().dispute_bond
        return self.chain.plan_call(
            f"dispute job {job_id}, posting a bond of {self.fmt(bond)}",
            sender,
            self.escrow,
            "dispute",
            job_id,
            reason_hash,
        )

    def plan_lapse_dispute(self, sender: str, job_id: int) -> TxPlan:
        """Plan escrow.closeUnruledDispute: after the ruling deadline, the bond goes back to the client, nothing is slashed."""
        j = self.job(job_id)
        return self.chain.plan_call(
            f"lapse the unruled dispute of job {job_id}: return the bond {self.fmt(j.dispute_bond)} to {j.client}",
            sender,
            self.escrow,
            "closeUnruledDispute",
            job_id,
        )

    def plan_collect_fraud_debt(self, sender: str, provider: str, owed: int) -> TxPlan:
        """Plan escrow.collectFraudDebt: as much of what `provider` owes for fraud as its stake now allows, paid to
        the defrauded clients oldest debt first."""
        return self.chain.plan_call(
            f"collect provider {provider}'s fraud debts ({self.fmt(owed)} owed) from its stake for the defrauded "
            "clients, oldest first",
            sender,
            self.escrow,
            "collectFraudDebt",
            to_checksum_address(provider),
        )

    def plan_report_fraud(self, sender: str, job_id: int, evidence_hash: bytes) -> TxPlan:
        """Plan escrow.reportFraud (the arbiter only, on a running job): refund the client, slash and jail."""
        j = self.job(job_id)
        return self.chain.plan_call(
            f"report fraud on running job {job_id}: refund {self.fmt(j.deposit)} to {j.client}, slash provider "
            f"{j.provider} and jail it",
            sender,
            self.escrow,
            "reportFraud",
            job_id,
            evidence_hash,
        )

    def plan_resolve_dispute(self, sender: str, job_id: int, upheld: bool) -> TxPlan:
        """Plan escrow.resolveDispute (the arbiter only, by the ruling deadline)."""
        verdict = (
            "uphold (slash the provider, compensate the client)"
            if upheld
            else "reject (the bond to the provider)"
        )
        return self.chain.plan_call(
            f"rule on the dispute of job {job_id}: {verdict}",
            sender,
            self.escrow,
            "resolveDispute",
            job_id,
            upheld,
        )

    def plan_withdraw_earnings(self, sender: str) -> TxPlan:
        """Plan escrow.withdrawEarnings."""
        return self.chain.plan_call("withdraw earnings", sender, self.escrow, "withdrawEarnings")

    # -- governance ------------------------------------------------------------------------------------

    def parameters(self) -> EscrowParameters:
        """Every tunable parameter of both contracts."""
        p = [int(x) for x in self._call(self.escrow, "parameters")]
        min_stake, unbonding = self.staking_parameters()
        lease: dict[str, int] = {}
        if self.lease_escrow is not None:
            values = [int(x) for x in self._call(self.lease_escrow, "parameters")]
            lease = dict(zip(LEASE_PARAMETERS, values, strict=True))
        return EscrowParameters(
            **dict(zip(ESCROW_PARAMETERS, p, strict=True)),
            min_stake=min_stake,
            unbonding_period=unbonding,
            lease=lease,
        )

    def oracle_set(self) -> OracleSet:
        """The oracle set, threshold and epoch."""
        oracles, threshold, epoch = self._call(self.escrow, "oracleSet")
        return OracleSet(tuple(to_checksum_address(o) for o in oracles), int(threshold), int(epoch))

    def roles(self) -> Roles:
        """Governance of both contracts, treasury, guardian and arbiter."""
        treasury, guardian, arbiter = self._call(self.escrow, "roles")
        return Roles(
            governance=to_checksum_address(self._call(self.escrow, "governance")),
            staking_governance=to_checksum_address(self._call(self.staking, "governance")),
            treasury=to_checksum_address(treasury),
            guardian=to_checksum_address(guardian),
            arbiter=to_checksum_address(arbiter),
        )

    def paused(self) -> bool:
        """Whether the escrow is paused."""
        return bool(self._call(self.escrow, "paused"))

    def plan_set_parameter(self, sender: str, name: str, value: int) -> TxPlan:
        """Plan setParameter on the contract that owns parameter `name`."""
        if name in ESCROW_PARAMETERS:
            contract, index = self.escrow, ESCROW_PARAMETERS.index(name)
        elif name in STAKING_PARAMETERS:
            contract, index = self.staking, STAKING_PARAMETERS.index(name)
        elif name in LEASE_PARAMETERS and self.lease_escrow is not None:
            contract, index = self.lease_escrow, LEASE_PARAMETERS.index(name)
        elif name in LEASE_PARAMETERS:
            raise ConfigError(
                f"{name} is a lease escrow parameter and this deployment has no lease escrow",
                "deploy the lease escrow first (gpusettle deploy), or choose a job escrow or staking parameter",
            )
        else:
            raise ConfigError(
                f"unknown parameter {name!r}",
                f"choose one of {', '.join(ESCROW_PARAMETERS + STAKING_PARAMETERS + LEASE_PARAMETERS)}",
            )
        current = self.parameters().as_dict()[name]
        return self.chain.plan_call(
            f"set parameter {name} from {current} to {value}", sender, contract, "setParameter", index, value
        )

    def plan_set_oracle_set(self, sender: str, oracles: Sequence[str], threshold: int) -> TxPlan:
        """Plan escrow.setOracleSet."""
        addrs = [to_checksum_address(o) for o in oracles]
        return self.chain.plan_call(
            f"replace the oracle set with {len(addrs)} oracles, threshold {threshold}",
            sender,
            self.escrow,
            "setOracleSet",
            addrs,
            threshold,
        )

    def plan_set_role(self, sender: str, role: str, account: str) -> TxPlan:
        """Plan escrow.setRole."""
        return self.chain.plan_call(
            f"make {to_checksum_address(account)} the {role}",
            sender,
            self.escrow,
            "setRole",
            ROLE_IDS[role],
            to_checksum_address(account),
        )

    def plan_pause(self, sender: str) -> TxPlan:
        """Plan escrow.pause (guardian)."""
        return self.chain.plan_call("pause new jobs on the escrow", sender, self.escrow, "pause")

    def plan_unpause(self, sender: str) -> TxPlan:
        """Plan escrow.unpause (guardian or governance)."""
        return self.chain.plan_call("resume new jobs on the escrow", sender, self.escrow, "unpause")

    # -- sending ---------------------------------------------------------------------------------------

    def send(
        self, plan: TxPlan, signer: Signer, *, confirmations: int = 1, check_funds: bool = True
    ) -> TxOutcome:
        """Send a plan made by this client."""
        if sender_address(signer) != plan.sender:
            raise ConfigError(
                f"the plan was made for {plan.sender} but the signer is {sender_address(signer)}"
            )
        if check_funds:
            self.chain.check_gas_funds(plan)
        return self.chain.send(plan, signer, confirmations=confirmations)

    def fmt(self, amount: int) -> str:
        """`amount` base units in whole tokens with the symbol ("12.5 GPUC")."""
        from ..units import format_units

        return f"{format_units(amount, self.decimals)} {self.symbol}"
