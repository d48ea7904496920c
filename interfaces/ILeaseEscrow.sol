// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IGoverned} from "./IGoverned.sol";

/// @title Lease escrow for gpusettle: the types, errors and events
/// @notice A lease rents k of an offer's GPUs by the second, from acceptance until the first of: the client closes
/// it, its end time, the provider's reclaim notice ends (reclaimable and interruptible terms only), or the deposit
/// runs out. The client prepays a deposit and may top it up; the oracle set attests uptime checkpoints
/// `[from, to)` that pay `up x rate` (less the fee) to the provider, leave down time with the client, and cost the
/// provider a penalty from the lease's collateral when uptime falls below the offer's guarantee.
/// @dev Checkpoints and attestations are EIP-712 typed data under the domain
/// `{name: "gpusettle LeaseEscrow", version: "1", chainId, verifyingContract: this}`:
///   LeaseCheckpoint(uint256 leaseId,uint64 fromTime,uint64 toTime,uint64 upSeconds,uint64 downSeconds,bytes32 heartbeatsRoot)
///   CheckpointAttestation(bytes32 checkpointsHash,uint64 oracleEpoch)
/// where checkpointsHash is keccak256 of the concatenated struct hashes of the checkpoints in submission order.
/// The worker's heartbeats (off-chain only, same domain) are
///   LeaseHeartbeat(uint256 leaseId,address provider,uint64 timestamp,uint64 sequence,bytes32 evidenceHash,bool serviceUp)
/// and a checkpoint's heartbeatsRoot is the sorted-pair keccak Merkle root of the heartbeats it counts.
/// Signatures are EIP-2098 compact `(r, vs)`, low s only; oracle signers in strictly ascending address order.
/// The oracle set (signers, threshold, epoch) is the job escrow's: `IJobEscrow(jobEscrow()).oracleSet()`; so are
/// the treasury, guardian and arbiter (`IJobEscrow.roles()`).
interface ILeaseEscrowTypes {
    /// @notice The life of a lease.
    enum LeaseStatus {
        None,
        Open, // opened, waiting for the provider to accept
        Running, // accepted: billing runs from startedAt
        Ended, // the final checkpoint landed, the expiry was claimed, or an upheld dispute ended it
        Cancelled, // cancelled, declined or expired before acceptance: fully refunded
        Disputed // the client disputed the last checkpoint; waiting for the arbiter (no checkpoint lands meanwhile)
    }

    /// @notice Why a checkpoint in a batch was skipped (nothing moved for it).
    enum SkipReason {
        NotRunning, // the lease is not Running (unknown, still open, ended, cancelled or disputed)
        NotContiguous, // fromTime is not the lease's paidThrough: a stale, already paid or gapped period
        PastBillingEnd // toTime is after the billing end known when the batch lands (closed, reclaimed, runway)
    }

    /// @notice LeaseEscrow's governance parameters, by their setParameter index; a lease keeps the set in force when
    /// it opened.
    enum LeaseParameter {
        FeeBps, // protocol fee, in basis points of each checkpoint's payment (at most 10%)
        CollateralSeconds, // collateral locked at acceptance = rate x this many seconds
        ExpirySlashBps, // share of the collateral slashed when no final checkpoint lands within the grace
        DisputeSlashBps, // share of what the lease paid slashed when a checkpoint dispute is upheld
        DisputeWindow, // seconds after a checkpoint during which the client may dispute it
        AcceptWindow, // seconds a provider has to accept an opened lease
        Grace, // seconds after billing ends for the final checkpoint to land
        DisputeBond // tokens a client posts to dispute a checkpoint
    }

    /// @notice An uptime checkpoint for the period `[fromTime, toTime)` of a running lease.
    struct Checkpoint {
        uint256 leaseId;
        uint64 fromTime; // the lease's paidThrough (its startedAt for the first checkpoint)
        uint64 toTime; // at most the billing end and the block time
        uint64 upSeconds; // seconds the oracles counted as up
        uint64 downSeconds; // the rest: upSeconds + downSeconds == toTime - fromTime
        bytes32 heartbeatsRoot; // Merkle root of the heartbeats behind the period (zero when none)
    }

    /// @notice An EIP-2098 compact signature: `vs` holds the y-parity in its top bit and s below it.
    struct Signature {
        bytes32 r;
        bytes32 vs;
    }

    /// @notice Everything stored about a lease, decoded. Amounts in token base units, times in unix seconds.
    struct LeaseView {
        LeaseStatus status;
        address client;
        address provider;
        uint256 offerId;
        uint256 gpuCount;
        uint256 pricePerGpuSecond; // locked at opening
        uint256 ratePerSecond; // gpuCount x pricePerGpuSecond
        uint256 deposit; // everything the client deposited (opening plus top-ups)
        uint256 paid; // paid for up time so far (to the provider, fee included): upSeconds x rate
        uint256 paidThrough; // end of the last checkpointed period (startedAt before the first; 0 while Open)
        uint256 startedAt; // acceptance time (0 while Open or if never accepted)
        uint256 acceptBy; // last second the provider may accept
        uint256 endTime; // the client's end time (0: open-ended)
        uint256 billingEnd; // when billing ends, once fixed (close, reclaim, end time) or passed (runway); else 0
        uint256 runwayEnd; // paidThrough + deposit not yet covered by a checkpoint / rate
        uint8 availabilityClass; // the offer's class at opening: 0 dedicated, 1 reclaimable, 2 interruptible
        uint32 noticeSeconds; // the reclaim notice locked at opening
        uint16 uptimeGuaranteeBps; // the uptime guarantee locked at opening
        uint256 collateral; // the provider's collateral for the lease still locked (after penalties)
        bytes32 specHash; // the workload spec
        uint256 upSeconds; // total over all checkpoints
        uint256 downSeconds; // total over all checkpoints
        uint256 refundable; // what the client can claim now (Ended only)
        uint256 lastCheckpointAt; // block time the last checkpoint landed (its dispute window starts there)
        uint256 disputeBond; // the bond of an open or ruled dispute
        bool collateralReleased; // the collateral went back to the provider's free stake
        uint256 rulingDeadline; // Disputed: the arbiter rules by then, closeUnruledCheckpointDispute after it; else 0
    }

    /// @notice The per-provider record of leases.
    struct LeaseProviderRecord {
        uint256 lockedCollateral; // for accepted leases, until released
        uint256 earnings; // credited, not yet withdrawn
        uint256 openDisputes;
        uint256 disputableUntil; // a checkpoint of the provider can be disputed until then
    }

    /// @notice No lease has this id.
    error LeaseEscrowUnknownLease(uint256 leaseId);
    /// @notice The lease is not in the status this call needs.
    error LeaseEscrowWrongStatus(uint256 leaseId, LeaseStatus status, LeaseStatus expected);
    /// @notice An amount of zero.
    error LeaseEscrowZeroAmount();
    /// @notice The offer no longer fits the client's limits: it asked for `gpuCount` GPUs (the offer has
    /// `offerGpuCount`) at no more than `maxPricePerGpuSecond` (the offer asks `offerPrice`). Read the offer again.
    error LeaseEscrowOfferNoLongerFits(
        uint256 offerId, uint256 gpuCount, uint256 offerGpuCount, uint256 maxPricePerGpuSecond, uint256 offerPrice
    );
    /// @notice The offer's availability class (or its notice) is not what the client accepts: the offer is class
    /// `availabilityClass` with `noticeSeconds` of notice; the client accepts classes up to `maxClass` with at least
    /// `minNoticeSeconds` of notice for a reclaimable one. Pick another offer or accept a worse class.
    error LeaseEscrowClassNotAccepted(
        uint256 offerId, uint8 availabilityClass, uint32 noticeSeconds, uint8 maxClass, uint32 minNoticeSeconds
    );
    /// @notice maxClass must be 0 (dedicated only), 1 (up to reclaimable) or 2 (any).
    error LeaseEscrowInvalidMaxClass(uint8 maxClass);
    /// @notice The end time must be 0 (open-ended) or later than now and at most MAX_LEASE_DURATION away.
    error LeaseEscrowInvalidEndTime(uint256 endTime, uint256 nowTs, uint256 latest);
    /// @notice The deposit must pay at least one second of the lease (`minimum` = the rate) and fit 96 bits.
    error LeaseEscrowInvalidDeposit(uint256 deposit, uint256 minimum);
    /// @notice The provider's free stake (bonded less the collateral locked by jobs and leases) does not cover
    /// the lease's collateral.
    error LeaseEscrowInsufficientFreeStake(address provider, uint256 free, uint256 need);
    /// @notice The acceptance deadline has passed.
    error LeaseEscrowAcceptanceClosed(uint256 leaseId, uint256 acceptBy, uint256 nowTs);
    /// @notice The provider is jailed and cannot take new work.
    error LeaseEscrowProviderJailed(address provider);
    /// @notice The provider's bonded stake fell below the minimum since the lease opened.
    error LeaseEscrowBelowMinimumStake(address provider, uint256 bonded, uint256 minimum);
    /// @notice Only the lease's provider or its current worker key may do this.
    error LeaseEscrowNotProviderOrWorker(uint256 leaseId, address caller);
    /// @notice Only the lease's client may do this.
    error LeaseEscrowNotClient(uint256 leaseId, address caller, address client);
    /// @notice Before the acceptance deadline only the client may cancel (or the provider decline).
    error LeaseEscrowCancelNotAllowed(uint256 leaseId, address caller, uint256 acceptBy);
    /// @notice The client of a lease is never the provider's staking wallet nor its current worker key.
    error LeaseEscrowSelfDealing(address client, address provider, address worker);
    /// @notice Billing of the lease ended at `billingEnd` (close, reclaim, end time or runway); it cannot be topped
    /// up or changed any more. Open a new lease.
    error LeaseEscrowBillingEnded(uint256 leaseId, uint256 billingEnd, uint256 nowTs);
    /// @notice Only leases opened on reclaimable (1) or interruptible (2) terms can be reclaimed.
    error LeaseEscrowNotReclaimable(uint256 leaseId, uint8 availabilityClass);
    /// @notice The expiry can be claimed only from billing end plus grace on (or, after a rejected checkpoint
    /// dispute, from the ruling plus grace if that is later), without a final checkpoint.
    error LeaseEscrowExpiryNotReached(uint256 leaseId, uint256 claimableAt, uint256 nowTs);
    /// @notice The lease has no checkpoint to dispute.
    error LeaseEscrowNoCheckpoint(uint256 leaseId);
    /// @notice The dispute window of the last checkpoint has closed.
    error LeaseEscrowDisputeWindowClosed(uint256 leaseId, uint256 closedAt, uint256 nowTs);
    /// @notice The lease's state paid through `paidThrough` was disputed already (and ruled on, or lapsed): only a
    /// new checkpoint can be disputed.
    error LeaseEscrowAlreadyDisputed(uint256 leaseId, uint256 paidThrough);
    /// @notice The dispute of the lease's checkpoint can still be ruled on until `deadline`; it can be closed as
    /// lapsed only after that.
    error LeaseEscrowRulingDeadlineNotReached(uint256 leaseId, uint256 deadline, uint256 nowTs);
    /// @notice The ruling deadline of the lease's checkpoint dispute passed at `deadline`: it can only lapse now
    /// (closeUnruledCheckpointDispute).
    error LeaseEscrowRulingDeadlinePassed(uint256 leaseId, uint256 deadline, uint256 nowTs);
    /// @notice The lease's collateral stays locked until its last checkpoint's dispute window closes at `closesAt`.
    error LeaseEscrowCollateralStillNeeded(uint256 leaseId, uint256 closesAt, uint256 nowTs);
    /// @notice Nothing to withdraw, refund or release.
    error LeaseEscrowNothingToClaim(address account);
    /// @notice A checkpoint's numbers are impossible: toTime not after fromTime, toTime in the future, or up plus
    /// down seconds not equal to the period. The whole batch reverts: the oracles attested nonsense.
    error LeaseEscrowImpossibleCheckpoint(
        uint256 leaseId, uint256 fromTime, uint256 toTime, uint256 upSeconds, uint256 downSeconds, uint256 nowTs
    );
    /// @notice A batch must hold at least one checkpoint.
    error LeaseEscrowEmptyBatch();
    /// @notice A signature is malformed or malleable (high s).
    error LeaseEscrowMalformedSignature(uint256 index);
    /// @notice Oracle signers must be in strictly ascending address order (which also forbids duplicates).
    error LeaseEscrowOracleSignersNotSorted(uint256 index, address signer, address previous);
    /// @notice The signer is not in the job escrow's current oracle set.
    error LeaseEscrowNotOracle(address signer, uint64 epoch);
    /// @notice Fewer oracle signatures than the threshold.
    error LeaseEscrowAttestationBelowThreshold(uint256 have, uint256 need);
    /// @notice The guardian stopped checkpoints (pauseSettlement); they, and lease expiries, wait until it is lifted or
    /// ends by itself.
    error LeaseEscrowSettlementPaused();
    /// @notice A checkpoint pause ended at `endedAt`; the guardian may pause again from `availableAt` on.
    error LeaseEscrowSettlementPauseCoolingDown(uint256 endedAt, uint256 availableAt, uint256 nowTs);
    /// @notice The guardian stopped new leases (pause): openLease and acceptLease wait until it is lifted. Cancelling,
    /// closing, refunds and withdrawals go on.
    error LeaseEscrowOpeningPaused();
    /// @notice A governance parameter was set outside its hard range.
    error LeaseEscrowParameterOutOfRange(uint8 param, uint256 value, uint256 min, uint256 max);

    // Issue 8, lower finding 5: the supply bound.
    /// @notice The token's total supply `supply` exceeds `max` (2^96 - 1), the largest amount the escrow's 96-bit
    /// fields hold; deploy on a token whose supply fits.
    error LeaseEscrowSupplyTooLarge(uint256 supply, uint256 max);

    /// @notice A lease was opened: `deposit` pulled from the client, `gpuCount` GPUs of `offerId` reserved, at
    /// `ratePerSecond` (= gpuCount x price). Everything an indexer needs about the lease is here.
    event LeaseOpened(
        uint256 indexed leaseId,
        address indexed client,
        address indexed provider,
        uint256 offerId,
        uint256 gpuCount,
        uint256 ratePerSecond,
        uint256 deposit,
        uint256 endTime,
        uint256 acceptBy,
        uint8 availabilityClass,
        uint32 noticeSeconds,
        bytes32 specHash
    );
    /// @notice The provider accepted: billing runs from `startedAt`; `collateral` is locked from its free stake.
    event LeaseAccepted(uint256 indexed leaseId, address indexed provider, uint256 startedAt, uint256 collateral);
    /// @notice The lease was cancelled, declined or expired before acceptance; the client got `refund` back.
    event LeaseCancelled(uint256 indexed leaseId, address indexed by, uint256 refund);
    /// @notice `by` added `amount`; `deposit` is now the lease's deposit not yet covered by a checkpoint (its whole
    /// deposit while Open), which is what the runway end counts.
    event LeaseToppedUp(uint256 indexed leaseId, address indexed by, uint256 amount, uint256 deposit);
    /// @notice The client closed the lease: billing ends at `billingEnd`.
    event LeaseClosed(uint256 indexed leaseId, address indexed by, uint256 billingEnd);
    /// @notice The provider reclaimed the lease with its notice: billing ends at `billingEnd`.
    event LeaseReclaimed(uint256 indexed leaseId, uint256 billingEnd);
    /// @notice A checkpoint paid the period `[fromTime, toTime)`: `payout` to the provider (credited to its
    /// earnings, but for what a LeasePayWithheld just before holds back), `fee` to the treasury, and `penalty`
    /// slashed from the lease's collateral to the client for uptime below the guarantee.
    event CheckpointSettled(
        uint256 indexed leaseId,
        uint64 fromTime,
        uint64 toTime,
        uint64 upSeconds,
        uint64 downSeconds,
        uint256 payout,
        uint256 fee,
        uint256 penalty
    );
    /// @notice A checkpoint in a batch was skipped for `reason` (a SkipReason); nothing moved.
    event CheckpointSkipped(uint256 indexed leaseId, uint64 fromTime, uint8 reason);
    /// @notice The final checkpoint landed at the billing end; the client may claim `refundable`.
    event LeaseEnded(uint256 indexed leaseId, uint256 billingEnd, uint256 refundable);
    /// @notice No final checkpoint landed within grace: the client got `refund` (all that no checkpoint paid) and
    /// `slashed` of the collateral.
    event LeaseExpired(uint256 indexed leaseId, uint256 refund, uint256 slashed);
    /// @notice The client claimed the unused part of an ended lease's deposit.
    event LeaseRefundClaimed(uint256 indexed leaseId, address indexed client, uint256 amount);
    /// @notice An ended lease's collateral and ruling reserve went back to `provider`'s free stake (`amount`: both).
    /// The ruling reserve is what an upheld checkpoint dispute slashes, `paid x disputeSlashBps`: each checkpoint
    /// locks the part its period adds, from the provider's free stake, so that nothing the provider locks or drains
    /// after a checkpoint keeps the ruling from it. What free stake could not lock is not in `amount` (see
    /// LeasePayWithheld).
    event LeaseCollateralReleased(uint256 indexed leaseId, address indexed provider, uint256 amount);
    /// @notice The provider's free stake could not lock all of the ruling reserve a checkpoint added: `unreserved` of
    /// it stayed unlocked, and `amount` of the period's pay (the provider's part, at most `unreserved`) is withheld
    /// in this contract for the ruling, until the lease's collateral is released or a later checkpoint finds the
    /// free stake to lock what is missing (LeaseWithheldPayReleased). The
    /// checkpoint lands anyway: free stake can be taken by work the provider never accepted (a job's collateral locks
    /// at its creation), so a checkpoint that waited for it could be made to miss its grace.
    event LeasePayWithheld(uint256 indexed leaseId, address indexed provider, uint256 amount, uint256 unreserved);
    /// @notice `amount` of the lease's withheld pay went to `provider`'s earnings: its collateral was released, a
    /// checkpoint locked the missing reserve from free stake, or an upheld ruling took what it needed and left the rest.
    event LeaseWithheldPayReleased(uint256 indexed leaseId, address indexed provider, uint256 amount);
    /// @notice The client disputed the last checkpoint, posting `bond`; the arbiter may rule until `rulingDeadline`.
    event CheckpointDisputed(
        uint256 indexed leaseId, address indexed client, uint256 bond, bytes32 reasonHash, uint256 rulingDeadline
    );
    /// @notice The checkpoint dispute was not ruled on by its deadline: the bond went back to `client`, nothing was
    /// slashed, and `frozen` of the provider's stake was released; the lease is as it was before the dispute.
    event CheckpointDisputeLapsed(uint256 indexed leaseId, address indexed client, uint256 bond, uint256 frozen);
    /// @notice The arbiter ruled on a checkpoint dispute.
    event CheckpointDisputeResolved(uint256 indexed leaseId, bool upheld, uint256 slashed, uint256 compensation);
    /// @notice A provider withdrew its lease earnings.
    event EarningsWithdrawn(address indexed provider, uint256 amount);
    /// @notice Accrued lease fees were sent to the treasury.
    event FeesWithdrawn(address indexed treasury, uint256 amount);
    /// @notice The guardian stopped (true) or governance or the guardian resumed (false) checkpoints.
    event SettlementPauseSet(bool paused);
    /// @notice The checkpoint pause ends (ended) at `endsAt`: it ends by itself then at the latest, and from its end
    /// every running lease has a whole grace to post its final checkpoint before it can expire.
    event SettlementPauseEnds(uint256 endsAt);
    /// @notice The guardian stopped (true) or governance or the guardian resumed (false) new leases.
    event OpeningPauseSet(bool paused);
    /// @notice A governance parameter (a LeaseParameter) changed (for leases opened from now on; running ones keep theirs).
    event ParameterSet(uint8 indexed param, uint256 previous, uint256 value);
}

/// @notice The lease escrow's functions.
interface ILeaseEscrow is ILeaseEscrowTypes, IGoverned {
    /// @notice Open a lease on `offerId` and pull `deposit` from the caller (needs an allowance). Reserves
    /// `gpuCount` of the offer's GPUs until the lease ends. Refused (with the values) if the offer is paused or
    /// withdrawn, its free GPUs fewer than `gpuCount`, its price above `maxPricePerGpuSecond`, or its class worse
    /// than `maxClass`. A jailed or under-staked provider is refused when it tries to accept.
    /// @param maxClass the worst availability class the client accepts: 0 dedicated only, 1 up to reclaimable,
    /// 2 any (interruptible included)
    /// @param minNoticeSeconds for a reclaimable offer, the shortest notice the client accepts
    /// @param specHash the workload spec the worker runs (a long-running service)
    /// @param deposit prepaid; at least one second of the rate (gpuCount x price)
    /// @param endTime when billing ends at the latest (0: open-ended, until closed or the deposit runs out)
    function openLease(
        uint256 offerId,
        uint8 gpuCount,
        uint64 maxPricePerGpuSecond,
        uint8 maxClass,
        uint32 minNoticeSeconds,
        bytes32 specHash,
        uint256 deposit,
        uint64 endTime
    ) external returns (uint256 leaseId);

    /// @notice Same as openLease with an EIP-2612 permit for `deposit` in the same call. A permit that fails
    /// because it was already used (front-run) is ignored if the allowance suffices.
    function openLeaseWithPermit(
        uint256 offerId,
        uint8 gpuCount,
        uint64 maxPricePerGpuSecond,
        uint8 maxClass,
        uint32 minNoticeSeconds,
        bytes32 specHash,
        uint256 deposit,
        uint64 endTime,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 leaseId);

    /// @notice The provider (or its worker key) accepts an open lease before its acceptance deadline: billing
    /// starts now and the collateral (rate x the collateral seconds fixed at opening) is locked from its free stake.
    function acceptLease(uint256 leaseId) external;

    /// @notice The provider (or its worker key) declines an open lease: the client is refunded in full.
    function declineLease(uint256 leaseId) external;

    /// @notice Cancel an open lease for a full refund: the client before acceptance, anyone once the acceptance
    /// deadline has passed.
    function cancelLease(uint256 leaseId) external;

    /// @notice Add `amount` to an open or running lease's deposit (anyone may pay; needs an allowance). Refused
    /// once billing has ended (LeaseEscrowBillingEnded).
    function topUp(uint256 leaseId, uint256 amount) external;

    /// @notice The client ends a running lease: billing ends now, or earlier if the runway, the end time or a
    /// reclaim notice already ended it. The final checkpoint then pays up to that time.
    function closeLease(uint256 leaseId) external;

    /// @notice The provider (or its worker key) takes back a running lease opened on reclaimable or
    /// interruptible terms: billing ends at now + the notice locked at opening (or earlier if already fixed).
    function reclaimLease(uint256 leaseId) external;

    /// @notice Pay attested uptime checkpoints. A checkpoint that cannot apply (lease not running, period not
    /// contiguous with the last paid one, past the billing end) is skipped with CheckpointSkipped, so a retried
    /// batch is harmless; a bad attestation or impossible numbers revert the whole batch.
    /// @param attestation M-of-N signatures of the job escrow's oracle set over CheckpointAttestation
    /// @return settled how many checkpoints this call paid
    function submitCheckpoints(Checkpoint[] calldata checkpoints, Signature[] calldata attestation)
        external
        returns (uint256 settled);

    /// @notice Send the unused deposit of an ended lease (everything not paid for up time) to its client. Anyone may
    /// call; the money goes to the client.
    function claimRefund(uint256 leaseId) external returns (uint256 amount);

    /// @notice Anyone, from billing end plus grace on, when no final checkpoint landed: the client gets back
    /// everything no checkpoint paid, plus the expiry slash fraction of the collateral; the lease Ends. No
    /// checkpoint can land while a checkpoint is disputed, so after a rejected ruling the grace runs from the ruling
    /// at the earliest: `max(billing end, last rejected ruling) + grace`.
    function claimLeaseExpiry(uint256 leaseId) external;

    /// @notice The client disputes the lease's last checkpoint within the dispute window after it landed,
    /// posting the dispute bond fixed at opening. No checkpoint lands until the ruling. Until then the provider's
    /// stake is held back only as far as the ruling can slash it: the lease's collateral stays locked, and the rest
    /// of the slash (the dispute slash fraction of what the lease paid, less that collateral) is frozen in free stake
    /// (the fourth value of unstakeBlockers). A checkpointed state is disputed once: after a ruling or a lapse, only
    /// a new checkpoint can be disputed (LeaseEscrowAlreadyDisputed). The arbiter has the job escrow's ruling period
    /// (IJobEscrow.rulingPeriod, read now and fixed for this dispute) to rule; after that the dispute lapses
    /// (closeUnruledCheckpointDispute).
    function disputeCheckpoint(uint256 leaseId, bytes32 reasonHash) external;

    /// @notice Arbiter: rule on a checkpoint dispute. Upheld: billing ends at the last paid time (the lease Ends),
    /// the provider is slashed the dispute slash fraction of everything the lease paid it and jailed, the client
    /// compensated from the slash (up to what it paid) and its bond returned, the rest to the treasury. The slash
    /// takes the lease's collateral and ruling reserve first, then its withheld pay (LeasePayWithheld), then the
    /// provider's other free and unbonding stake; withheld pay it does not need goes to the provider's earnings.
    /// Rejected: the bond goes to the provider and the lease goes on; the provider then has at least a grace from
    /// the ruling to post the final checkpoint (see claimLeaseExpiry). Either way what the dispute froze is released.
    /// Refused after the dispute's ruling deadline (LeaseEscrowRulingDeadlinePassed).
    function resolveCheckpointDispute(uint256 leaseId, bool upheld) external;

    /// @notice Anyone, after the ruling deadline of an unruled checkpoint dispute: the dispute lapses. As after a
    /// rejected ruling, nothing is slashed, what it froze is released and the lease goes on (or stays Ended, with
    /// the grace for a final checkpoint running from now at the earliest); unlike it, the bond goes back to the
    /// client, since the arbiter, not the client, failed to act.
    function closeUnruledCheckpointDispute(uint256 leaseId) external;

    /// @notice The provider withdraws its credited lease earnings.
    function withdrawEarnings() external returns (uint256 amount);

    /// @notice Return ended leases' collateral to their providers' free stake once the last checkpoint's dispute
    /// window has closed, and their withheld pay (LeasePayWithheld) to the providers' earnings. Anyone may call;
    /// already released leases are skipped.
    /// @return total the collateral released
    function releaseLeaseCollateral(uint256[] calldata leaseIds) external returns (uint256 total);

    /// @notice Send accrued lease fees to the job escrow's treasury. Anyone may call.
    function withdrawFees() external returns (uint256 amount);

    /// @notice Governance: set parameter `param` (a LeaseParameter) inside its hard range, for leases opened from now
    /// on. An index past the last LeaseParameter reverts with LeaseEscrowParameterOutOfRange(param, value, 0, 0).
    function setParameter(uint8 param, uint256 value) external;

    /// @notice Guardian (the job escrow's): stop new leases. Stops openLease and acceptLease only; cancel,
    /// decline, close, reclaim, top-up, checkpoints, refunds, expiry, disputes and withdrawals go on, so no funds
    /// are trapped.
    function pause() external;

    /// @notice Guardian or governance: resume new leases.
    function unpause() external;

    /// @notice Guardian: stop checkpoints (e.g. compromised oracle keys) for at most MAX_SETTLEMENT_PAUSE, and not
    /// again within SETTLEMENT_PAUSE_COOLDOWN of the last pause's end. The expiry clock stops with them: no lease
    /// expires during the pause, and each running lease has a whole grace after it. Everything else goes on.
    function pauseSettlement() external;

    /// @notice Guardian or governance: resume checkpoints.
    function unpauseSettlement() external;

    /// @notice Whether new leases are paused, and whether checkpoints are paused.
    function pauseState() external view returns (bool openingPaused, bool settlementPaused);

    /// @notice A lease, decoded.
    function getLease(uint256 leaseId) external view returns (LeaseView memory);

    /// @notice The parameters fixed for `leaseId` at its opening, indexed by LeaseParameter.
    function leaseParameters(uint256 leaseId) external view returns (uint256[8] memory);

    /// @notice When billing of `leaseId` ends if nothing else ends it first: paidThrough + (deposit not yet
    /// covered by a checkpoint) / rate. Zero for a lease that is not Running or Disputed.
    function runwayEnd(uint256 leaseId) external view returns (uint64);

    /// @notice Number of leases ever opened (ids run from 1).
    function leaseCount() external view returns (uint256);

    /// @notice A provider's lease record and balances.
    function providerRecord(address provider) external view returns (LeaseProviderRecord memory);

    /// @notice Collateral locked for `provider`'s accepted leases (read by the job escrow, through the staking
    /// contract, to size free stake).
    function lockedCollateral(address provider) external view returns (uint256);

    /// @notice Lease `leaseId`'s pay withheld for a ruling (`pay`, in this contract) and the part of its ruling
    /// reserve free stake could not lock (`unreserved`), both summed over its checkpoints (see LeasePayWithheld);
    /// zero once the collateral was released or a ruling took them.
    function leaseWithheldPay(uint256 leaseId) external view returns (uint256 pay, uint256 unreserved);

    /// @notice What keeps `provider`'s stake in place, read by the staking contract (as IJobEscrow's): the
    /// collateral locked for its accepted leases (cannot be unstaked), the number of its open checkpoint disputes,
    /// the time until which a checkpoint of its leases can still be disputed (unbonded stake cannot be withdrawn
    /// before), and `frozen`: what the open disputes' upheld rulings can slash beyond the collateral of their leases
    /// (each ruling unlocks its lease's collateral before it slashes `paid x disputeSlashBps`), which must stay in
    /// free stake (neither unstaked nor, while unbonding stake would be needed for it, withdrawn) until they are
    /// ruled. An open dispute blocks no other unstaking (issue 11).
    function unstakeBlockers(address provider)
        external
        view
        returns (uint256 locked, uint256 openDisputes, uint256 disputableUntil, uint256 frozen);

    /// @notice The longest dispute window a lease can get (the current parameter), read by the staking contract
    /// to keep its unbonding period longer.
    function disputeWindow() external view returns (uint256);

    /// @notice The current parameters, indexed by LeaseParameter.
    function parameters() external view returns (uint256[8] memory);

    /// @notice Accrued fees not yet sent to the treasury.
    function accruedFees() external view returns (uint256);

    /// @notice The job escrow whose oracle set and roles this escrow uses.
    function jobEscrow() external view returns (address);

    /// @notice The staking contract.
    function staking() external view returns (address);

    /// @notice The escrowed token.
    function token() external view returns (address);

    /// @notice The full EIP-712 typed-data digest of one `checkpoint` under this escrow's domain, for tools (the
    /// batch hash the oracles attest is built from the checkpoints' struct hashes, not from these digests).
    function checkpointDigest(Checkpoint calldata checkpoint) external view returns (bytes32);

    /// @notice The EIP-712 digest the oracles sign for a batch with `checkpointsHash` under `epoch`.
    function attestationDigest(bytes32 checkpointsHash, uint64 epoch) external view returns (bytes32);

    /// @notice The EIP-712 domain separator.
    function domainSeparator() external view returns (bytes32);
}
