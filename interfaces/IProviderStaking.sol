// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IGoverned} from "./IGoverned.sol";

/// @title Provider staking for gpusettle
/// @notice Providers bond compute tokens here, name the hot worker key that signs their job receipts,
/// and publish offers for their GPUs. The job escrow and the lease escrow read the stake to size collateral
/// and may slash it; both reserve an offer's GPUs for their work, so capacity is never sold twice. Unstaking goes through an unbonding period that is always longer than the escrow's
/// dispute window, and slashing reaches unbonding stake too, so a provider cannot unstake its way
/// out of a dispute.
interface IProviderStaking is IGoverned {
    /// @notice The staking contract's governance parameters, by their setParameter index.
    enum StakingParameter {
        MinStake, // the least bonded stake an offer needs
        UnbondingPeriod // seconds unbonding stake waits before it can be withdrawn (longer than any dispute window)
    }

    /// @notice One offer of GPU time by a provider.
    struct Offer {
        address provider; // the staking wallet that owns the offer
        uint64 pricePerGpuSecond; // in the token's smallest unit
        uint8 gpuCount; // GPUs a job on this offer gets
        uint32 vramGb; // memory per GPU
        bool active; // false once withdrawn
        string gpuModel; // e.g. "NVIDIA H100 80GB HBM3"
        string metadataURI; // where the provider describes the machine
        // Capacity and availability (issue 11). Appended, so the first seven fields keep their positions.
        uint8 availabilityClass; // 0 dedicated, 1 reclaimable (with noticeSeconds), 2 interruptible (notice 0)
        uint32 noticeSeconds; // a reclaimable offer's notice; 0 for the other classes
        uint16 uptimeGuaranteeBps; // uptime a lease on the offer is promised per checkpoint; 0 for interruptible
        bool paused; // takes no new job or lease while true; running work goes on (a withdrawn offer is paused too)
        uint8 reservedGpus; // GPUs held by open or running jobs and leases; never above gpuCount
    }

    /// @notice What the escrow needs to open a job against an offer.
    struct JobTerms {
        address provider;
        uint64 pricePerGpuSecond;
        uint8 gpuCount;
        uint256 bonded;
        address worker; // the provider's current worker key
        // What the lease escrow holds back for the provider: its leases' locked collateral plus what its open checkpoint
        // disputes froze for their rulings (0 before a lease escrow is named). Neither is free for new collateral.
        uint256 leaseHeld;
    }

    /// @notice What the lease escrow needs to open a lease against an offer.
    struct LeaseTerms {
        address provider;
        uint64 pricePerGpuSecond;
        uint8 gpuCount; // the offer's GPU count
        uint8 freeGpus; // gpuCount - reservedGpus
        uint8 availabilityClass;
        uint32 noticeSeconds;
        uint16 uptimeGuaranteeBps;
        address worker; // the provider's current worker key
    }

    /// @notice The caller passed an amount of zero.
    error ProviderStakingZeroAmount();
    /// @notice The provider asked to unstake more than its free stake: bonded stake that no job or lease holds as
    /// collateral, less what open job and lease disputes freeze.
    error ProviderStakingInsufficientFreeStake(address provider, uint256 free, uint256 requested);
    /// @notice The provider has no unbonding stake to withdraw.
    error ProviderStakingNothingToWithdraw(address provider);
    /// @notice The unbonding period has not ended yet.
    error ProviderStakingStillUnbonding(address provider, uint256 releaseAt, uint256 nowTs);
    /// @notice A job the provider settled can still be disputed until `disputableUntil`; unbonded stake stays
    /// until then so that a slash can reach it. Stop taking jobs for one dispute window to withdraw.
    error ProviderStakingDisputeWindowOpen(address provider, uint256 disputableUntil, uint256 nowTs);
    /// @notice No longer raised (issue 11): an open job or lease dispute now keeps back only what its ruling can
    /// slash (ProviderStakingInsufficientFreeStake, ProviderStakingDisputeFrozen). Kept so that the reverts of
    /// deployments from before still decode.
    error ProviderStakingOpenDisputes(address provider, uint256 openDisputes);
    /// @notice Open disputes can still slash `frozen` of the provider's stake, and its free bonded stake is only `free`:
    /// the unbonding stake is needed for their rulings. Withdraw once they are ruled or lapse (or bond more).
    error ProviderStakingDisputeFrozen(address provider, uint256 frozen, uint256 free);
    /// @notice The escrow can be named once only.
    error ProviderStakingEscrowAlreadySet(address escrow);
    /// @notice No offer has this id.
    error ProviderStakingUnknownOffer(uint256 offerId);
    /// @notice Only the provider that published the offer may change it.
    error ProviderStakingNotOfferOwner(uint256 offerId, address caller, address owner);
    /// @notice The offer was withdrawn.
    error ProviderStakingOfferInactive(uint256 offerId);
    /// @notice GPU count must be between 1 and 255.
    error ProviderStakingInvalidGpuCount(uint256 gpuCount);
    /// @notice Price per GPU-second must be between 1 and the cap.
    error ProviderStakingInvalidPrice(uint256 price, uint256 maxPrice);
    /// @notice The provider is jailed for fraud and cannot take new work until governance releases it.
    error ProviderStakingJailed(address provider);
    /// @notice The provider is not jailed.
    error ProviderStakingNotJailed(address provider);
    /// @notice The provider's bonded stake is below the minimum for new work.
    error ProviderStakingBelowMinimum(address provider, uint256 bonded, uint256 minimum);
    /// @notice `worker` was replaced as this provider's worker key once and is retired: rotation voids a key's receipts
    /// for good.
    /// Name a fresh key.
    error ProviderStakingWorkerRetired(address worker);
    /// @notice An offer's VRAM per GPU cannot go down (publish another offer for other hardware).
    error ProviderStakingVramLowered(uint256 offerId, uint32 vramGb, uint32 requested);
    /// @notice The provider has not named a worker key.
    error ProviderStakingNoWorker(address provider);
    /// @notice The offer is paused by its provider (or its worker key): it takes no new job or lease until resumed.
    error ProviderStakingOfferPaused(uint256 offerId);
    /// @notice The offer is not paused.
    error ProviderStakingOfferNotPaused(uint256 offerId);
    /// @notice Only the offer's provider or the provider's current worker key may pause or resume it.
    error ProviderStakingNotOfferOwnerOrWorker(uint256 offerId, address caller, address owner);
    /// @notice Reserving `requested` GPUs would pass the offer's `gpuCount` (`reserved` are held already). Ask for
    /// fewer GPUs, another offer, or wait for running work to end.
    error ProviderStakingCapacityExceeded(uint256 offerId, uint256 requested, uint256 reserved, uint256 gpuCount);
    /// @notice The offer's GPU count cannot drop below the `reserved` GPUs running work holds.
    error ProviderStakingGpusReserved(uint256 offerId, uint256 gpuCount, uint256 reserved);
    /// @notice An escrow released more GPUs than it reserved on the offer.
    error ProviderStakingReleaseExceedsReserved(uint256 offerId, uint256 count, uint256 reserved);
    /// @notice Availability terms: class 0 dedicated, 1 reclaimable (notice 1 s to MAX_NOTICE_SECONDS), 2
    /// interruptible (notice 0, guarantee 0); the guarantee is at most 10,000 bps.
    error ProviderStakingInvalidAvailability(uint8 availabilityClass, uint256 noticeSeconds, uint256 uptimeGuaranteeBps);
    /// @notice A governance parameter was set outside its hard range.
    error ProviderStakingParameterOutOfRange(uint8 param, uint256 value, uint256 min, uint256 max);

    // Issue 8, lower finding 5: token amounts are kept in 96-bit fields.
    /// @notice The token's total supply `supply` exceeds `max` (2^96 - 1), the largest amount the 96-bit stake fields
    /// hold; deploy on a token whose supply fits.
    error ProviderStakingSupplyTooLarge(uint256 supply, uint256 max);

    /// @notice `provider` bonded `amount`; its bonded stake is now `bonded`.
    event Staked(address indexed provider, uint256 amount, uint256 bonded);
    /// @notice `provider` moved `amount` to unbonding; all of its unbonding stake is released at `releaseAt`.
    event UnstakeRequested(address indexed provider, uint256 amount, uint256 unbonding, uint256 releaseAt);
    /// @notice `provider` withdrew `amount` of released stake.
    event Withdrawn(address indexed provider, uint256 amount);
    /// @notice `provider` lost `amount` (of `requested`) to a slash, sent to `recipient`.
    event Slashed(address indexed provider, uint256 requested, uint256 amount, address indexed recipient);
    /// @notice `provider` was jailed.
    event Jailed(address indexed provider);
    /// @notice Governance released `provider` from jail.
    event Unjailed(address indexed provider);
    /// @notice `provider` named `worker` as its receipt-signing key (replacing `previous`).
    event WorkerSet(address indexed provider, address indexed previous, address indexed worker);
    /// @notice An offer was published.
    event OfferAdded(
        uint256 indexed offerId,
        address indexed provider,
        string gpuModel,
        uint8 gpuCount,
        uint32 vramGb,
        uint64 pricePerGpuSecond,
        string metadataURI
    );
    /// @notice An offer's terms changed; jobs already opened keep the price they locked.
    event OfferUpdated(uint256 indexed offerId, uint8 gpuCount, uint32 vramGb, uint64 pricePerGpuSecond, string metadataURI);
    /// @notice An offer was withdrawn.
    event OfferWithdrawn(uint256 indexed offerId);
    /// @notice The job escrow that may lock collateral and slash was named.
    event EscrowSet(address indexed escrow);
    /// @notice The offer's availability terms changed; leases already opened keep the terms they opened with.
    event OfferAvailabilitySet(
        uint256 indexed offerId, uint8 availabilityClass, uint32 noticeSeconds, uint16 uptimeGuaranteeBps
    );
    /// @notice The offer stopped taking new work.
    event OfferPaused(uint256 indexed offerId);
    /// @notice The offer takes new work again.
    event OfferResumed(uint256 indexed offerId);
    /// @notice `escrow` reserved `count` GPUs of the offer for new work; `reserved` are held now.
    event GpusReserved(uint256 indexed offerId, address indexed escrow, uint8 count, uint8 reserved);
    /// @notice `escrow` released `count` GPUs of the offer as work ended; `reserved` are held now.
    event GpusReleased(uint256 indexed offerId, address indexed escrow, uint8 count, uint8 reserved);
    /// @notice The lease escrow that may reserve GPUs, lock collateral and slash was named.
    event LeaseEscrowSet(address indexed leaseEscrow);
    /// @notice A governance parameter (a StakingParameter) changed.
    event ParameterSet(uint8 indexed param, uint256 previous, uint256 value);

    /// @notice Bond `amount` tokens (needs an allowance to this contract).
    function stake(uint256 amount) external;

    /// @notice Bond `amount` tokens using an EIP-2612 permit in the same call.
    function stakeWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Move `amount` of free bonded stake to unbonding: bonded stake less the collateral both escrows lock
    /// less what open job and lease disputes can slash beyond it (their `frozen`). The whole unbonding balance is
    /// released one unbonding period after the latest request.
    function requestUnstake(uint256 amount) external;

    /// @notice Withdraw all unbonding stake whose unbonding period has ended, once no settlement or checkpoint of the
    /// provider can still be disputed, and while open disputes are pending only if free bonded stake alone covers
    /// what their rulings can slash (both escrows' `frozen`).
    function withdraw() external;

    /// @notice Name `worker` as the hot key that signs this provider's receipts. Rotating it invalidates
    /// every receipt signed by the previous key that has not settled yet, for good: a replaced key is retired and
    /// can never be named again by this provider (retirement is per provider, so nobody else can block a rotation).
    function setWorker(address worker) external;

    /// @notice Publish an offer; the caller must hold at least the minimum stake.
    function addOffer(
        string calldata gpuModel,
        uint8 gpuCount,
        uint32 vramGb,
        uint64 pricePerGpuSecond,
        string calldata metadataURI
    ) external returns (uint256 offerId);

    /// @notice Change an active offer's terms. The VRAM per GPU may go up, never down.
    function updateOffer(uint256 offerId, uint8 gpuCount, uint32 vramGb, uint64 pricePerGpuSecond, string calldata metadataURI)
        external;

    /// @notice Withdraw an offer; open jobs on it are unaffected.
    function withdrawOffer(uint256 offerId) external;

    /// @notice The offer's provider: set its availability class, reclaim notice and uptime guarantee. Running
    /// leases keep the terms they opened with.
    function setOfferAvailability(
        uint256 offerId,
        uint8 availabilityClass,
        uint32 noticeSeconds,
        uint16 uptimeGuaranteeBps
    ) external;

    /// @notice The offer's provider or its current worker key (when the owner needs the GPUs): stop new work on
    /// the offer. Running jobs and leases go on.
    function pauseOffer(uint256 offerId) external;

    /// @notice The offer's provider or its current worker key: take new work on the offer again.
    function resumeOffer(uint256 offerId) external;

    /// @notice Job or lease escrow only: hold `count` of the offer's GPUs for new work. Reverts
    /// (ProviderStakingCapacityExceeded) if the offer's reserved GPUs would pass its count.
    function reserveGpus(uint256 offerId, uint8 count) external;

    /// @notice Job or lease escrow only: give back `count` GPUs of the offer when work ends.
    function releaseGpus(uint256 offerId, uint8 count) external;

    /// @notice Either escrow only: take up to `amount` from bonded stake above `keepBonded` (the collateral the calling
    /// escrow keeps locked for the provider's other clients' work) plus the collateral the other escrow has locked,
    /// then from unbonding stake, and send it to `recipient`. The kept part is never taken.
    /// @return slashed what was actually taken (never more than exists)
    function slash(address provider, uint256 amount, address recipient, uint256 keepBonded)
        external
        returns (uint256 slashed);

    /// @notice Either escrow or governance: jail `provider` for fraud.
    function jail(address provider) external;

    /// @notice Governance: release `provider` from jail.
    function unjail(address provider) external;

    /// @notice Governance, once: name the job escrow. Reverts if the current unbonding period does not outlast
    /// the escrow's dispute window.
    function setEscrow(address escrow) external;

    /// @notice Governance, once: name the lease escrow. Reverts if the current unbonding period does not outlast
    /// its dispute window.
    function setLeaseEscrow(address leaseEscrow_) external;

    /// @notice Governance: set parameter `param` (a StakingParameter) inside its hard cap.
    function setParameter(uint8 param, uint256 value) external;

    /// @notice Bonded stake, unbonding stake, its release time and the jail flag of `provider`.
    function stakeOf(address provider)
        external
        view
        returns (uint256 bonded, uint256 unbonding, uint256 releaseAt, bool jailed);

    /// @notice The worker key of `provider` (zero if none).
    function workerOf(address provider) external view returns (address);

    /// @notice The worker key and the bonded stake of `provider`, read together (settlement reads settlementContext,
    /// which is net of the lease escrow's locked collateral).
    function settlementView(address provider) external view returns (address worker, uint256 bonded);

    /// @notice What the job escrow's settlement reads once per provider: the worker key, and the bonded stake less
    /// the collateral the lease escrow has locked for `provider` and what its open disputes froze (so the job
    /// escrow's free stake, `bonded - its own locked`, never counts a lease's collateral or a pending ruling's share). The lease escrow is asked only while it has flagged the provider
    /// (flagLeaseCollateral), so a provider without leases costs settlement no extra call. Its selector
    /// (0x0c1b048f) sorts second of this contract's, and the compiler's dispatcher tries selectors one by one in
    /// ascending order, so the call that every settlement makes passes one comparison instead of about forty (about
    /// 800 gas a settlement).
    function settlementContext(address provider) external view returns (address worker, uint256 bonded);

    /// @notice Total ever slashed from `provider`.
    function totalSlashedOf(address provider) external view returns (uint256);

    /// @notice The offer with id `offerId`.
    function offer(uint256 offerId) external view returns (Offer memory);

    /// @notice Number of offers ever published (ids run from 1).
    function offerCount() external view returns (uint256);

    /// @notice The terms for a new job on `offerId`; reverts if the offer is inactive or paused, the provider jailed,
    /// below the minimum stake, or without a worker key.
    function jobTerms(uint256 offerId) external view returns (JobTerms memory);

    /// @notice The terms for a new lease on `offerId`; reverts if the offer is unknown, withdrawn or paused, or its
    /// provider has no worker key (jail and minimum stake are checked when the lease is accepted).
    function leaseTerms(uint256 offerId) external view returns (LeaseTerms memory);

    /// @notice The provider of `offerId` and the provider's current worker key (zero if none).
    function offerProvider(uint256 offerId) external view returns (address provider, address worker);

    /// @notice GPUs of `offerId` not held by jobs or leases.
    function freeGpus(uint256 offerId) external view returns (uint256);

    /// @notice Collateral `provider` has locked in the job escrow and in the lease escrow. Free stake for new
    /// collateral is bonded stake less both.
    function lockedCollateral(address provider) external view returns (uint256 jobs, uint256 leases);

    /// @notice Minimum bonded stake for new work.
    function minStake() external view returns (uint256);

    /// @notice Seconds between an unstake request and its release.
    function unbondingPeriod() external view returns (uint256);

    /// @notice The job escrow.
    function escrow() external view returns (address);

    /// @notice The lease escrow (zero until named).
    function leaseEscrow() external view returns (address);

    /// @notice The staked token.
    function token() external view returns (address);

    // ------------------------------------------- lease collateral flag (settlement counts lease collateral)

    /// @notice The lease escrow's `provider` went from no collateral locked to some (`locked` true), or back.
    event LeaseCollateralFlagged(address indexed provider, bool locked);

    /// @notice Lease escrow only: whether it holds collateral locked for `provider`. It calls this when its locked
    /// sum for the provider leaves zero and when it returns to zero; settlementContext asks it for the sum only
    /// while the flag is set. A call that changes nothing emits nothing.
    function flagLeaseCollateral(address provider, bool locked) external;
}
