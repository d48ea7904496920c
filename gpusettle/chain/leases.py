"""Leases over web3: LeaseEscrow reads and plans, and the offer availability calls of ProviderStaking.

Kept apart from `client.Gpusettle` (jobs) so the lease contract can be absent from a deployment: a
deployment record without a LeaseEscrow address gives a clear ConfigError only when a lease command
runs. Struct results are decoded by the ABI's field names, not positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.contract import Contract

from ..availability import CLASSES as AVAILABILITY_CLASSES
from ..availability import class_name, class_value
from ..errors import ConfigError
from .abi import load_artifact
from .client import LEASE_PARAMETERS, Gpusettle
from .logs import reader_for
from .revert import ErrorDecoder
from .tx import TxPlan

__all__ = [
    "AVAILABILITY_CLASSES",
    "LEASE_RECORD_KEYS",
    "LEASE_STATUS_NAMES",
    "LeaseInfo",
    "LeaseOpenedEvent",
    "Leases",
    "OfferAvailability",
    "class_name",
    "class_value",
]

LEASE_STATUS_NAMES: tuple[str, ...] = ("None", "Open", "Running", "Ended", "Cancelled", "Disputed")
"""ILeaseEscrow.LeaseStatus by value."""

LEASE_RECORD_KEYS: tuple[str, ...] = ("leases", "lease_escrow", "leaseEscrow", "LeaseEscrow")
"""Keys a deployment record may hold the LeaseEscrow address under (the first found is used)."""


@dataclass(frozen=True)
class LeaseInfo:
    """ILeaseEscrow.LeaseView with its id and the status by name (amounts in base units)."""

    lease_id: int
    status: str
    client: str
    provider: str
    offer_id: int
    gpu_count: int
    rate_per_second: int
    """Price per second for all the lease's GPUs (gpu count x price per GPU-second)."""
    deposit: int
    paid: int
    """Paid to the provider for checkpoints so far (the fee included)."""
    paid_through: int
    started_at: int
    accept_by: int
    end_time: int
    billing_end: int
    """When billing ended or will end (0 while running and not fixed by a close, reclaim or end time)."""
    runway_end: int
    """When the deposit not yet covered by a checkpoint runs out at this rate."""
    availability_class: int
    notice_seconds: int
    uptime_guarantee_bps: int
    collateral: int
    spec_hash: str
    up_seconds: int
    down_seconds: int
    refundable: int
    last_checkpoint_at: int = 0
    """Block time the last checkpoint landed (0: none yet); the client may dispute it for the dispute window."""
    dispute_bond: int = 0
    """The bond of an open or ruled checkpoint dispute."""
    ruling_deadline: int = 0
    """While Disputed: the arbiter rules by then, after it anyone may close the dispute as lapsed (else 0)."""
    collateral_released: bool = False
    """The collateral and ruling reserve went back to the provider's free stake (releaseLeaseCollateral or a
    ruling); nothing of this lease is locked any more."""

    @property
    def class_name(self) -> str:
        """The lease's availability class by name."""
        return class_name(self.availability_class)


@dataclass(frozen=True)
class LeaseOpenedEvent:
    """One LeaseOpened log."""

    lease_id: int
    client: str
    provider: str
    offer_id: int
    gpu_count: int
    rate_per_second: int
    deposit: int
    end_time: int
    accept_by: int
    availability_class: int
    notice_seconds: int
    spec_hash: str
    block_number: int


@dataclass(frozen=True)
class OfferAvailability:
    """An offer's availability terms and capacity (ProviderStaking's additions for leases)."""

    offer_id: int
    availability_class: int
    notice_seconds: int
    uptime_guarantee_bps: int
    paused: bool
    reserved_gpus: int
    free_gpus: int

    @property
    def class_name(self) -> str:
        """The class by name."""
        return class_name(self.availability_class)


def _named(abi: list[dict[str, Any]], fn: str, value: Any) -> dict[str, Any]:
    """A struct returned by `fn` as field name -> value, from the ABI's component names."""
    for item in abi:
        if item.get("type") == "function" and item.get("name") == fn:
            outputs = item["outputs"]
            if len(outputs) == 1 and outputs[0]["type"] == "tuple":
                names = [c["name"] for c in outputs[0]["components"]]
            else:
                names = [o["name"] for o in outputs]
                value = value if isinstance(value, (list, tuple)) else (value,)
            return dict(zip(names, value, strict=True))
    raise ConfigError(f"the ABI has no function {fn}", "rebuild the contracts (`make compile`)")


def _hex32(value: Any) -> str:
    return "0x" + bytes(value).hex()


def _addr(value: Any) -> str:
    return str(to_checksum_address(value))


class Leases:
    """LeaseEscrow of a deployment, next to the job client `gs` (same chain, token and staking)."""

    def __init__(self, gs: Gpusettle) -> None:
        self.gs = gs
        self.chain = gs.chain
        self._escrow: Contract | None = None
        self._abi: list[dict[str, Any]] | None = None

    @property
    def escrow(self) -> Contract:
        """The LeaseEscrow contract (looked up on first use: the offer calls work without it)."""
        if self._escrow is None:
            gs = self.gs
            known: Contract | None = getattr(gs, "lease_escrow", None)
            if known is not None:
                self._abi = cast(list[dict[str, Any]], known.abi)
                self._escrow = known
                return known
            addresses = gs.record.addresses
            address = next((addresses[k] for k in LEASE_RECORD_KEYS if k in addresses), None)
            if address is None and any(i.get("name") == "leaseEscrow" for i in gs.staking.abi):
                # A record written before the lease escrow was named: the staking contract knows it.
                named = str(gs._call(gs.staking, "leaseEscrow"))
                address = named if int(named, 16) else None
            if address is None:
                raise ConfigError(
                    f"the deployment on chain {gs.record.chain_id} has no LeaseEscrow",
                    "deploy the lease contract (`gpusettle deploy` finishes a deployment), or use jobs",
                )
            artifact = load_artifact("LeaseEscrow")
            self._abi = artifact.abi
            self._escrow = gs.chain.w3.eth.contract(
                address=to_checksum_address(address), abi=cast(Any, artifact.abi)
            )
            self.chain.register_contract("LeaseEscrow", self._escrow)
            self.chain.decoder = ErrorDecoder(
                [*(a.abi for a in gs.artifacts.values()), artifact.abi],
                decimals=gs.decimals,
                symbol=gs.symbol,
            )
        return self._escrow

    @property
    def abi(self) -> list[dict[str, Any]]:
        """LeaseEscrow's ABI."""
        _ = self.escrow
        assert self._abi is not None
        return self._abi

    # -- reads ---------------------------------------------------------------------------------------

    def lease(self, lease_id: int) -> LeaseInfo:
        """Lease `lease_id` (ContractError from the escrow when there is none)."""
        v = _named(self.abi, "getLease", self.gs._call(self.escrow, "getLease", lease_id))
        status = int(v["status"])
        return LeaseInfo(
            lease_id=lease_id,
            status=LEASE_STATUS_NAMES[status] if status < len(LEASE_STATUS_NAMES) else str(status),
            client=_addr(v["client"]),
            provider=_addr(v["provider"]),
            offer_id=int(v["offerId"]),
            gpu_count=int(v["gpuCount"]),
            rate_per_second=int(v["ratePerSecond"]),
            deposit=int(v["deposit"]),
            paid=int(v["paid"]),
            paid_through=int(v["paidThrough"]),
            started_at=int(v["startedAt"]),
            accept_by=int(v["acceptBy"]),
            end_time=int(v["endTime"]),
            billing_end=int(v["billingEnd"]),
            runway_end=int(v["runwayEnd"]),
            availability_class=int(v["availabilityClass"]),
            notice_seconds=int(v["noticeSeconds"]),
            uptime_guarantee_bps=int(v["uptimeGuaranteeBps"]),
            collateral=int(v["collateral"]),
            spec_hash=_hex32(v["specHash"]),
            up_seconds=int(v["upSeconds"]),
            down_seconds=int(v["downSeconds"]),
            refundable=int(v["refundable"]),
            last_checkpoint_at=int(v["lastCheckpointAt"]),
            dispute_bond=int(v["disputeBond"]),
            ruling_deadline=int(v.get("rulingDeadline", 0)),
            collateral_released=bool(v.get("collateralReleased", False)),
        )

    def withheld_pay(self, lease_id: int) -> tuple[int, int]:
        """(pay held back for a ruling, ruling reserve free stake could not lock) of `lease_id`: both zero once its
        collateral was released or a ruling took them."""
        pay, unreserved = self.gs._call(self.escrow, "leaseWithheldPay", lease_id)
        return int(pay), int(unreserved)

    def collateral_closes_at(self, info: LeaseInfo) -> int:
        """When `info`'s collateral may be released: its last checkpoint's dispute window end (0: no checkpoint,
        releasable once Ended). The release needs a block time after it."""
        if not info.last_checkpoint_at:
            return 0
        return info.last_checkpoint_at + self.lease_parameters(info.lease_id)["lease_dispute_window"]

    def lease_parameters(self, lease_id: int) -> dict[str, int]:
        """The parameters fixed for `lease_id` at opening, by LEASE_PARAMETERS name."""
        values = [int(x) for x in self.gs._call(self.escrow, "leaseParameters", lease_id)]
        return dict(zip(LEASE_PARAMETERS, values, strict=True))

    def lease_count(self) -> int:
        """Leases ever opened."""
        return int(self.gs._call(self.escrow, "leaseCount"))

    def offer_availability(self, offer_id: int) -> OfferAvailability:
        """Class, notice, guarantee, paused flag and capacity of offer `offer_id`."""
        staking = self.gs.staking
        o = _named(
            cast(list[dict[str, Any]], staking.abi), "offer", self.gs._call(staking, "offer", offer_id)
        )
        free = int(self.gs._call(staking, "freeGpus", offer_id))
        return OfferAvailability(
            offer_id=offer_id,
            availability_class=int(o.get("availabilityClass", 0)),
            notice_seconds=int(o.get("noticeSeconds", 0)),
            uptime_guarantee_bps=int(o.get("uptimeGuaranteeBps", 0)),
            paused=bool(o.get("paused", False)),
            reserved_gpus=int(o.get("reservedGpus", 0)),
            free_gpus=free,
        )

    def leases_opened(
        self, *, client: str | None = None, provider: str | None = None
    ) -> list[LeaseOpenedEvent]:
        """LeaseOpened events since the deployment (the chunked log reader), by client and/or provider."""
        filters: dict[str, Any] = {}
        if client:
            filters["client"] = to_checksum_address(client)
        if provider:
            filters["provider"] = to_checksum_address(provider)
        latest = self.chain.block_number()
        reader = reader_for(self.chain.w3)
        logs = self.chain.rpc(
            lambda: reader.events(
                self.escrow.events.LeaseOpened, self.gs.record.deploy_block, latest, filters or None
            )
        )
        out = []
        for log in logs:
            a = log["args"]
            out.append(
                LeaseOpenedEvent(
                    lease_id=int(a["leaseId"]),
                    client=_addr(a["client"]),
                    provider=_addr(a["provider"]),
                    offer_id=int(a["offerId"]),
                    gpu_count=int(a["gpuCount"]),
                    rate_per_second=int(a["ratePerSecond"]),
                    deposit=int(a["deposit"]),
                    end_time=int(a["endTime"]),
                    accept_by=int(a["acceptBy"]),
                    availability_class=int(a["availabilityClass"]),
                    notice_seconds=int(a["noticeSeconds"]),
                    spec_hash=_hex32(a["specHash"]),
                    block_number=int(log["blockNumber"]),
                )
            )
        return sorted(out, key=lambda e: e.lease_id)

    # -- client plans --------------------------------------------------------------------------------

    def plan_open_lease(
        self,
        sender: str,
        offer_id: int,
        gpu_count: int,
        max_price: int,
        max_class: int,
        min_notice: int,
        spec_hash: bytes,
        deposit: int,
        end_time: int,
        description: str,
    ) -> TxPlan:
        """Plan openLease (needs an allowance of `deposit` for the escrow)."""
        return self.chain.plan_call(
            description,
            sender,
            self.escrow,
            "openLease",
            offer_id,
            gpu_count,
            max_price,
            max_class,
            min_notice,
            spec_hash,
            deposit,
            end_time,
        )

    def plan_open_lease_with_permit(
        self,
        owner: LocalAccount,
        offer_id: int,
        gpu_count: int,
        max_price: int,
        max_class: int,
        min_notice: int,
        spec_hash: bytes,
        deposit: int,
        end_time: int,
        description: str,
        permit_deadline: int | None = None,
    ) -> TxPlan:
        """Plan openLeaseWithPermit with a fresh EIP-2612 permit for exactly `deposit`."""
        pd = permit_deadline if permit_deadline is not None else self.chain.timestamp() + 3600
        v, r, s = self.gs.sign_permit(owner, self.escrow.address, deposit, pd)
        return self.chain.plan_call(
            description + " (deposit approved by permit)",
            owner.address,
            self.escrow,
            "openLeaseWithPermit",
            offer_id,
            gpu_count,
            max_price,
            max_class,
            min_notice,
            spec_hash,
            deposit,
            end_time,
            pd,
            v,
            r,
            s,
        )

    def plan_top_up(self, sender: str, lease_id: int, amount: int) -> TxPlan:
        """Plan topUp (needs an allowance of `amount`)."""
        return self.chain.plan_call(
            f"top up lease {lease_id} with {self.gs.fmt(amount)}",
            sender,
            self.escrow,
            "topUp",
            lease_id,
            amount,
        )

    def plan_close(self, sender: str, lease_id: int) -> TxPlan:
        """Plan closeLease: billing ends now."""
        return self.chain.plan_call(
            f"close lease {lease_id}: billing stops now", sender, self.escrow, "closeLease", lease_id
        )

    def plan_cancel(self, sender: str, lease_id: int) -> TxPlan:
        """Plan cancelLease (before acceptance): full refund."""
        return self.chain.plan_call(
            f"cancel lease {lease_id} before the provider accepts it: full refund",
            sender,
            self.escrow,
            "cancelLease",
            lease_id,
        )

    def plan_claim_refund(self, sender: str, lease_id: int, amount: int) -> TxPlan:
        """Plan claimRefund of an Ended lease."""
        return self.chain.plan_call(
            f"claim the unused deposit of lease {lease_id}: {self.gs.fmt(amount)}",
            sender,
            self.escrow,
            "claimRefund",
            lease_id,
        )

    def plan_dispute(self, sender: str, lease_id: int, reason_hash: bytes, bond: int) -> TxPlan:
        """Plan disputeCheckpoint of the lease's last checkpoint (needs an allowance for the bond)."""
        return self.chain.plan_call(
            f"dispute the last checkpoint of lease {lease_id}, posting a bond of {self.gs.fmt(bond)}",
            sender,
            self.escrow,
            "disputeCheckpoint",
            lease_id,
            reason_hash,
        )

    def plan_lapse_dispute(self, sender: str, lease_id: int, bond: int, client: str) -> TxPlan:
        """Plan closeUnruledCheckpointDispute: after the ruling deadline the bond goes back to the client."""
        return self.chain.plan_call(
            f"lapse the unruled checkpoint dispute of lease {lease_id}: return the bond {self.gs.fmt(bond)} "
            f"to {client}",
            sender,
            self.escrow,
            "closeUnruledCheckpointDispute",
            lease_id,
        )

    def plan_resolve_dispute(self, sender: str, lease_id: int, upheld: bool) -> TxPlan:
        """Plan resolveCheckpointDispute (the arbiter only, by the ruling deadline)."""
        verdict = "uphold (end the lease, slash the provider)" if upheld else "reject (the lease goes on)"
        return self.chain.plan_call(
            f"rule on the checkpoint dispute of lease {lease_id}: {verdict}",
            sender,
            self.escrow,
            "resolveCheckpointDispute",
            lease_id,
            upheld,
        )

    # -- provider plans ------------------------------------------------------------------------------

    def plan_accept(self, sender: str, lease_id: int, collateral_note: str = "") -> TxPlan:
        """Plan acceptLease: billing starts now and collateral is locked from free stake."""
        return self.chain.plan_call(
            f"accept lease {lease_id}: billing starts now{collateral_note}",
            sender,
            self.escrow,
            "acceptLease",
            lease_id,
        )

    def earnings(self, provider: str) -> int:
        """What checkpoints credited `provider` and it has not withdrawn yet (0 without a LeaseEscrow)."""
        try:
            escrow = self.escrow
        except ConfigError:
            return 0
        record = self.gs._call(escrow, "providerRecord", to_checksum_address(provider))
        return int(record[1])

    def plan_withdraw_earnings(self, sender: str) -> TxPlan:
        """Plan LeaseEscrow.withdrawEarnings: what lease checkpoints paid the provider."""
        return self.chain.plan_call("withdraw lease earnings", sender, self.escrow, "withdrawEarnings")

    def plan_release_collateral(self, sender: str, lease_ids: list[int]) -> TxPlan:
        """Plan releaseLeaseCollateral: ended leases' collateral and reserve back to free stake, withheld pay to
        earnings (anyone may call it)."""
        return self.chain.plan_call(
            f"release the collateral of lease(s) {', '.join(map(str, lease_ids))} to free stake",
            sender,
            self.escrow,
            "releaseLeaseCollateral",
            lease_ids,
        )

    def plan_decline(self, sender: str, lease_id: int) -> TxPlan:
        """Plan declineLease: the client gets its deposit back."""
        return self.chain.plan_call(
            f"decline lease {lease_id}: the client's deposit goes back",
            sender,
            self.escrow,
            "declineLease",
            lease_id,
        )

    def plan_reclaim(self, sender: str, lease_id: int, notice: int) -> TxPlan:
        """Plan reclaimLease: billing ends after the lease's notice."""
        return self.chain.plan_call(
            f"reclaim lease {lease_id}: billing ends after its notice of {notice} s",
            sender,
            self.escrow,
            "reclaimLease",
            lease_id,
        )

    def plan_set_offer_availability(
        self, sender: str, offer_id: int, availability_class: int, notice: int, guarantee_bps: int
    ) -> TxPlan:
        """Plan ProviderStaking.setOfferAvailability (running leases keep their terms)."""
        return self.chain.plan_call(
            f"make offer {offer_id} {class_name(availability_class)}"
            + (f" with {notice} s notice" if availability_class == 1 else "")
            + (f", uptime guarantee {guarantee_bps / 100:g}%" if guarantee_bps else ", no uptime guarantee"),
            sender,
            self.gs.staking,
            "setOfferAvailability",
            offer_id,
            availability_class,
            notice,
            guarantee_bps,
        )

    def plan_pause_offer(self, sender: str, offer_id: int) -> TxPlan:
        """Plan ProviderStaking.pauseOffer: no new job or lease; running work continues."""
        return self.chain.plan_call(
            f"pause offer {offer_id}: no new jobs or leases (running ones continue)",
            sender,
            self.gs.staking,
            "pauseOffer",
            offer_id,
        )

    def plan_resume_offer(self, sender: str, offer_id: int) -> TxPlan:
        """Plan ProviderStaking.resumeOffer."""
        return self.chain.plan_call(
            f"resume offer {offer_id}: it takes new jobs and leases again",
            sender,
            self.gs.staking,
            "resumeOffer",
            offer_id,
        )
