"""The lease chain view on a real chain: LeaseEscrow (its ABI `LeaseEscrow`) and ProviderStaking.

Leases are found through `LeaseOpened` events for this provider (scanned from the last block seen,
through the chunked log reader) and read back with `getLease`, whose struct is decoded by its ABI
component names, so a field added to `LeaseView` moves nothing here. The ids of leases not yet over
are kept in the worker's state, so a restart neither rescans the chain nor forgets a lease.
Transactions (accept, decline, reclaim, pause and resume an offer) are signed by the worker key.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from ..chain import Gpusettle
from ..chain.abi import load_artifact
from ..chain.logs import reader_for
from ..errors import ConfigError, GpusettleError
from .leasechain import AvailabilityClass, LeaseInfo, LeaseStatus, OfferState
from .state import WorkerState

__all__ = ["LEASE_ESCROW_KEYS", "ContractLeaseChain", "lease_escrow_address", "lease_from_view"]

log = logging.getLogger("gpusettle.worker.chainview")

LEASE_ESCROW_KEYS = ("LeaseEscrow", "leaseEscrow", "lease_escrow")
"""Keys a deployment record may hold the LeaseEscrow address under."""

_FINAL = (LeaseStatus.ENDED, LeaseStatus.CANCELLED)


def lease_escrow_address(client: Gpusettle, override: str | None = None) -> str | None:
    """The LeaseEscrow address: `override`, else the deployment record's, else None (no leases)."""
    if override:
        return to_checksum_address(override)
    for key in LEASE_ESCROW_KEYS:
        found = client.record.addresses.get(key)
        if found:
            return to_checksum_address(found)
    return None


def lease_from_view(lease_id: int, view: dict[str, Any]) -> LeaseInfo:
    """A LeaseInfo from `getLease`'s struct as a name -> value mapping."""
    spec = view["specHash"]
    return LeaseInfo(
        lease_id=lease_id,
        status=LeaseStatus(int(view["status"])),
        offer_id=int(view["offerId"]),
        gpu_count=int(view["gpuCount"]),
        spec_hash="0x" + bytes(spec).hex() if isinstance(spec, bytes | bytearray) else str(spec),
        accept_by=int(view["acceptBy"]),
        started_at=int(view["startedAt"]),
        end_time=int(view["endTime"]),
        billing_end=int(view["billingEnd"]),
        runway_end=int(view["runwayEnd"]),
        availability_class=AvailabilityClass(int(view["availabilityClass"])),
        notice_seconds=int(view["noticeSeconds"]),
    )


def _output_names(abi: list[dict[str, Any]], fn: str) -> list[str]:
    for entry in abi:
        if entry.get("type") == "function" and entry.get("name") == fn:
            return [c["name"] for c in entry["outputs"][0].get("components", [])]
    raise ConfigError(f"the LeaseEscrow ABI has no {fn}", "update gpusettle (its ABI files)")


@dataclass
class ContractLeaseChain:
    """`LeaseChainView` over the deployed contracts."""

    client: Gpusettle
    address: str
    account: LocalAccount
    provider: str
    state: WorkerState
    confirmations: int = 1
    escrow: Any = field(init=False)
    _fields: list[str] = field(init=False)

    def __post_init__(self) -> None:
        # The client's own LeaseEscrow contract when it has one (its errors are decoded by name).
        existing = getattr(self.client, "lease_escrow", None)
        if existing is not None and str(existing.address).lower() == self.address.lower():
            self.escrow = existing
            self._fields = _output_names(list(existing.abi), "getLease")
            return
        try:
            abi = load_artifact("LeaseEscrow", prefer_build=False).abi
        except ConfigError:
            raise GpusettleError(
                "this gpusettle has no LeaseEscrow ABI, so it cannot serve leases",
                "update gpusettle, or run the worker without leases",
            ) from None
        self.escrow = self.client.chain.w3.eth.contract(address=to_checksum_address(self.address), abi=abi)
        self._fields = _output_names(abi, "getLease")

    # -- reading ---------------------------------------------------------------------------------------

    def now(self) -> int:
        return self.client.chain.timestamp()

    def _known(self) -> set[int]:
        return set(json.loads(self.state.get_meta("lease_ids") or "[]"))

    def _scan(self) -> set[int]:
        known = self._known()
        latest = self.client.chain.block_number()
        last = self.state.get_meta("lease_last_block")
        start = int(last) + 1 if last is not None else self.client.record.deploy_block
        if start <= latest:
            logs = reader_for(self.client.chain.w3).events(
                self.escrow.events.LeaseOpened, start, latest, {"provider": self.provider}
            )
            for entry in logs:
                known.add(int(entry["args"]["leaseId"]))
            self.state.set_meta("lease_ids", json.dumps(sorted(known)))
            self.state.set_meta("lease_last_block", str(latest))
        return known

    def lease(self, lease_id: int) -> LeaseInfo:
        raw = self.client.chain.rpc(lambda: self.escrow.functions.getLease(lease_id).call())
        return lease_from_view(lease_id, dict(zip(self._fields, raw, strict=True)))

    def leases(self) -> list[LeaseInfo]:
        known = self._scan()
        out = [self.lease(i) for i in sorted(known)]
        still = sorted(i.lease_id for i in out if i.status not in _FINAL)
        if still != sorted(known):
            self.state.set_meta("lease_ids", json.dumps(still))
        return [i for i in out if i.status not in _FINAL]

    def offers(self) -> list[OfferState]:
        out = []
        for info in self.client.offers(self.provider, active_only=True):
            raw = self._offer_struct(info.offer_id)
            # The availability fields are appended to the Offer struct (positions 7..11).
            klass = AvailabilityClass(int(raw[7])) if len(raw) > 7 else AvailabilityClass.DEDICATED
            out.append(
                OfferState(
                    offer_id=info.offer_id,
                    gpu_count=info.gpu_count,
                    availability_class=klass,
                    notice_seconds=int(raw[8]) if len(raw) > 8 else 0,
                    paused=bool(raw[10]) if len(raw) > 10 else False,
                    active=info.active,
                )
            )
        return out

    def _offer_struct(self, offer_id: int) -> tuple[Any, ...]:
        def read() -> tuple[Any, ...]:
            return tuple(self.client.staking.functions.offer(offer_id).call())

        found: tuple[Any, ...] = self.client.chain.rpc(read)
        return found

    # -- acting ----------------------------------------------------------------------------------------

    def _send(self, what: str, contract: Any, fn: str, arg: int) -> None:
        plan = self.client.chain.plan_call(what, self.account.address, contract, fn, arg)
        outcome = self.client.send(plan, self.account, confirmations=self.confirmations)
        log.info("%s in tx %s", what, outcome.tx_hash)

    def accept(self, lease_id: int) -> None:
        self._send(f"accept lease {lease_id}", self.escrow, "acceptLease", lease_id)

    def decline(self, lease_id: int) -> None:
        self._send(f"decline lease {lease_id}", self.escrow, "declineLease", lease_id)

    def reclaim(self, lease_id: int) -> None:
        self._send(f"reclaim lease {lease_id}", self.escrow, "reclaimLease", lease_id)

    def pause_offer(self, offer_id: int) -> None:
        self._send(f"pause offer {offer_id}", self.client.staking, "pauseOffer", offer_id)

    def resume_offer(self, offer_id: int) -> None:
        self._send(f"resume offer {offer_id}", self.client.staking, "resumeOffer", offer_id)
