// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IGoverned} from "./IGoverned.sol";

/// @title Job escrow for gpusettle
/// @notice Clients open jobs against provider offers and deposit `maxGpuSeconds x price`; providers accept,
/// run the job and their worker key signs an EIP-712 receipt; an M-of-N oracle set attests the receipts
/// and anyone may submit them here to settle. Payouts are pull payments: a provider's earnings, the
/// treasury's fees and a client's refund are credited at settlement and withdrawn at any time.
/// @dev Receipts and attestations are EIP-712 typed data under the domain
/// `{name: "gpusettle JobEscrow", version: "1", chainId, verifyingContract: this}`:
///   JobReceipt(uint256 jobId,address provider,uint64 gpuSeconds,uint64 startTime,uint64 endTime,bytes32 resultHash,uint8 outcome)
///   Attestation(bytes32 receiptsHash,uint64 oracleEpoch)
/// where receiptsHash is keccak256 of the concatenated struct hashes of the receipts in submission order.
/// Signatures are EIP-2098 compact `(r, vs)`; s must be in the lower half order, so none is malleable.
/// @notice The types, errors and events of the job escrow (shared by its two code halves, see JobEscrowDesk).
interface IJobEscrowTypes {
    /// @notice The life of a job. Settled, DisputeUpheld and DisputeRejected jobs may still have a refund
    /// for the client to claim.
    enum JobStatus {
        None,
        Open, // created, waiting for the provider to accept
        Running, // accepted, the worker is running it
        Settled, // a receipt settled it
        Cancelled, // cancelled, declined or expired before acceptance: fully refunded
        TimedOut, // no receipt by deadline + grace: fully refunded, collateral partly slashed
        Disputed, // the client disputed the settlement; waiting for the arbiter
        DisputeUpheld, // the arbiter upheld the dispute: provider slashed and jailed
        DisputeRejected, // the arbiter rejected the dispute: bond paid to the provider
        Fraud, // the arbiter found a fraudulent result before settlement: refunded, provider slashed and jailed
        DisputeLapsed // no ruling by the ruling deadline: the bond went back to the client, nothing was slashed
    }

    /// @notice What a receipt says happened.
    enum Outcome {
        Completed, // the job ran to the end; metered GPU-seconds are paid
        FailedClient, // the job's own code or spec failed; metered GPU-seconds are paid
        FailedProvider // the provider's hardware or worker failed; nothing is paid, and the provider pays what a timeout
        // would have cost it (issue 8, lower finding 7): its collateral is unlocked and its timeout fraction slashed
        // to the client (FailedProviderSlashed)
    }

    /// @notice Why settleBatch skipped a receipt (SettlementSkipped). Each reason but NotRunning is a fault of the
    /// receipt alone (or of its provider, such as a worker key rotated while the batch waited), so one provider
    /// cannot make the other providers' receipts wait; `settle` reverts with the error named here.
    enum SkipReason {
        NotRunning, // the job is not running: already settled, cancelled, timed out or unknown (a retried batch)
        TooLate, // deadline + grace has passed: the job belongs to the timeout path (JobEscrowSettlementTooLate)
        WrongProvider, // the receipt names another provider (JobEscrowWrongProvider)
        WrongWorker, // not signed by the provider's current worker key (JobEscrowInvalidWorkerSignature)
        ImpossibleTimes, // start before acceptance, end before start or in the future (JobEscrowImpossibleTimes)
        EndAfterDeadline, // the receipt ends after the job's deadline (JobEscrowEndAfterDeadline)
        ImpossibleGpuSeconds, // more GPU-seconds than the wall time allows (JobEscrowImpossibleGpuSeconds)
        InvalidOutcome // not an Outcome (JobEscrowInvalidOutcome)
    }

    /// @notice JobEscrow's governance parameters, by their setParameter index. Each has a hard range (see
    /// setParameter); the terms that protect a running job are copied into it when it opens.
    enum JobParameter {
        FeeBps, // protocol fee, in basis points of each payment (at most 10%)
        CollateralBps, // stake locked per job, in basis points of its deposit
        TimeoutSlashBps, // share of a job's collateral slashed when it times out
        DisputeSlashBps, // share of a job's deposit slashed when a dispute is upheld
        DisputeWindow, // seconds after settlement during which the client may dispute
        AcceptWindow, // seconds a provider has to accept an opened job
        TimeoutGrace, // seconds after the deadline during which a receipt may still settle
        DisputeBond, // tokens a client posts to dispute, returned when the dispute is upheld or lapses
        MinRunTime, // seconds a deadline must leave after acceptance
        RulingPeriod // seconds the arbiter has to rule on a dispute
    }

    /// @notice The accounts governance appoints, by their setRole index.
    enum Role {
        Treasury, // receives protocol fees and the rest of upheld slashes
        Guardian, // may pause new work and settlement
        Arbiter // rules on disputes and fraud reports
    }

    /// @notice A job receipt, signed by the provider's worker key.
    struct Receipt {
        uint256 jobId;
        address provider;
        uint64 gpuSeconds; // metered GPU-seconds: wall time x GPUs
        uint64 startTime; // unix seconds
        uint64 endTime; // unix seconds
        bytes32 resultHash; // hash of the result (or of the failure reason)
        uint8 outcome; // an Outcome
    }

    /// @notice An EIP-2098 compact signature: `vs` holds the y-parity in its top bit and s below it.
    struct Signature {
        bytes32 r;
        bytes32 vs;
    }

    /// @notice Everything stored about a job, decoded.
    struct JobView {
        JobStatus status;
        address client;
        address provider;
        uint256 offerId;
        uint256 pricePerGpuSecond;
        uint256 maxGpuSeconds; // after the refund is claimed, equal to billedGpuSeconds
        uint8 gpuCount;
        uint256 deposit; // price x the original maxGpuSeconds
        uint256 collateral;
        uint256 acceptBy; // Open: last second the provider may accept
        uint256 acceptedAt; // Running: when it was accepted
        uint256 deadline; // Open and Running; Disputed: the arbiter's ruling deadline (closeUnruledDispute after it)
        uint256 billedGpuSeconds; // after settlement
        uint256 settledAt; // after settlement
        uint256 refundable; // what the client can claim now
        bytes32 specHash;
        uint256 disputeBond;
    }

    /// @notice The per-provider record of work.
    struct ProviderRecord {
        uint256 lockedCollateral;
        uint256 earnings; // credited, not yet withdrawn
        uint256 gpuSecondsServed;
        uint256 jobsCompleted;
        uint256 jobsFailed;
        uint256 jobsTimedOut;
        uint256 disputesLost;
        uint256 openDisputes;
        uint256 totalSlashed;
        /// What clients paid for the provider's settled jobs (before the fee): the reputation figure a client should
        /// read. Trading with oneself from another wallet adds only what that wallet pays (and its fee).
        uint256 valuePaid;
    }

    /// @notice No job has this id.
    error JobEscrowUnknownJob(uint256 jobId);
    /// @notice The job is not in the status this call needs.
    error JobEscrowWrongStatus(uint256 jobId, JobStatus status, JobStatus expected);
    /// @notice maxGpuSeconds must be between 1 and 2^32 - 1.
    error JobEscrowInvalidMaxGpuSeconds(uint256 maxGpuSeconds);
    /// @notice The deadline must be in the future and at most the longest job duration away.
    error JobEscrowInvalidDeadline(uint256 deadline, uint256 nowTs, uint256 latest);
    /// @notice The provider's free stake does not cover the job's collateral.
    error JobEscrowInsufficientFreeStake(address provider, uint256 free, uint256 need);
    /// @notice The acceptance deadline has passed.
    error JobEscrowAcceptanceClosed(uint256 jobId, uint256 acceptBy, uint256 nowTs);
    /// @notice The provider is jailed and cannot take new work.
    error JobEscrowProviderJailed(address provider);
    /// @notice The provider's bonded stake fell below the minimum since the job opened; it cannot take new work.
    error JobEscrowBelowMinimumStake(address provider, uint256 bonded, uint256 minimum);
    /// @notice Only the job's provider or its worker key may do this.
    error JobEscrowNotProviderOrWorker(uint256 jobId, address caller);
    /// @notice Only the job's client may do this.
    error JobEscrowNotClient(uint256 jobId, address caller, address client);
    /// @notice Before the acceptance deadline only the client may cancel (or the provider decline).
    error JobEscrowCancelNotAllowed(uint256 jobId, address caller, uint256 acceptBy);
    /// @notice Deadline plus grace has passed: the job can only time out now, not settle.
    error JobEscrowSettlementTooLate(uint256 jobId, uint256 timeoutAt, uint256 nowTs);
    /// @notice The timeout can be claimed only from deadline plus grace on.
    error JobEscrowTimeoutNotReached(uint256 jobId, uint256 claimableAt, uint256 nowTs);
    /// @notice The dispute window has closed.
    error JobEscrowDisputeWindowClosed(uint256 jobId, uint256 closedAt, uint256 nowTs);
    /// @notice The receipt names another provider than the job's.
    error JobEscrowWrongProvider(uint256 jobId, address expected, address got);
    /// @notice The receipt's signature does not recover to the provider's current worker key.
    error JobEscrowInvalidWorkerSignature(uint256 jobId, address recovered, address worker);
    /// @notice The receipt's times are impossible: start before acceptance, end before start, or end in the future.
    error JobEscrowImpossibleTimes(uint256 jobId, uint256 startTime, uint256 endTime, uint256 acceptedAt, uint256 nowTs);
    /// @notice The receipt's run ended after the job's deadline; only work up to the deadline is paid.
    error JobEscrowEndAfterDeadline(uint256 jobId, uint256 endTime, uint256 deadline);
    /// @notice More GPU-seconds than the job's GPUs could run between start and end (plus the tolerance of
    /// METER_TOLERANCE_SECONDS per GPU for a run that took any time).
    error JobEscrowImpossibleGpuSeconds(uint256 jobId, uint256 gpuSeconds, uint256 limit);
    /// @notice The outcome is not one of the Outcome values.
    error JobEscrowInvalidOutcome(uint256 jobId, uint8 outcome);
    /// @notice A signature is malformed or malleable (high s).
    error JobEscrowMalformedSignature(uint256 index);
    /// @notice Oracle signers must be in strictly ascending address order (which also forbids duplicates).
    error JobEscrowOracleSignersNotSorted(uint256 index, address signer, address previous);
    /// @notice The signer is not in the current oracle set.
    error JobEscrowNotOracle(address signer, uint64 epoch);
    /// @notice Fewer valid oracle signatures than the threshold.
    error JobEscrowAttestationBelowThreshold(uint256 have, uint256 need);
    /// @notice Receipts and worker signatures must pair up one to one.
    error JobEscrowLengthMismatch(uint256 receipts, uint256 signatures);
    /// @notice A batch must hold at least one receipt.
    error JobEscrowEmptyBatch();
    /// @notice Nothing to withdraw or refund.
    error JobEscrowNothingToClaim(address account);
    /// @notice A governance parameter was set outside its hard range.
    error JobEscrowParameterOutOfRange(uint8 param, uint256 value, uint256 min, uint256 max);
    /// @notice An oracle set needs 1 <= threshold <= size <= MAX_ORACLES.
    error JobEscrowInvalidOracleSet(uint256 size, uint256 threshold);
    /// @notice An oracle address was zero or repeated.
    error JobEscrowInvalidOracle(address oracle);
    /// @notice `role` is not a Role.
    error JobEscrowUnknownRole(uint8 role);
    /// @notice The client of a job is never the provider's staking wallet nor its current worker key: trading with
    /// oneself would turn timeout slashes into payouts and farm the provider's record. Use another provider.
    error JobEscrowSelfDealing(address client, address provider, address worker);
    /// @notice The deadline leaves less than the minimum run time; pass a deadline of at least `earliest`.
    error JobEscrowRunTimeTooShort(uint256 deadline, uint256 earliest);
    /// @notice The worker key alone has committed `used` of its daily collateral budget `budget`; accepting a job
    /// with collateral `need` would pass it. The staking wallet may accept the job, or raise the budget
    /// (setWorkerBudget), or wait for the next day.
    error JobEscrowWorkerBudgetExceeded(address provider, uint256 used, uint256 budget, uint256 need);
    /// @notice The offer no longer fits the client's limits: it asked for `gpuCount` GPUs (the offer has
    /// `offerGpuCount`) at no more than `maxPricePerGpuSecond` (the offer asks `offerPrice`). Read the offer again.
    error JobEscrowOfferNoLongerFits(
        uint256 offerId, uint256 gpuCount, uint256 offerGpuCount, uint256 maxPricePerGpuSecond, uint256 offerPrice
    );
    /// @notice The guardian stopped settlement (pauseSettlement); receipts wait until it is lifted.
    error JobEscrowSettlementPaused();
    /// @notice A settled job's collateral stays reserved for its dispute until `closesAt`; release it after that.
    error JobEscrowReserveStillNeeded(uint256 jobId, uint256 closesAt, uint256 nowTs);
    /// @notice `provider` owes no fraud debt (none was recorded, or all was collected).
    error JobEscrowNoFraudDebt(address provider);
    /// @notice `provider` owes `owed` in fraud debts, but none of its stake can be taken now: all of it is locked for
    /// clients' running work. Try again once that work ends (settles, times out or is cancelled).
    error JobEscrowFraudDebtNotCollectable(address provider, uint256 owed);
    /// @notice `provider` has disputes open; what is held for their rulings is released only after them.
    error JobEscrowDisputesOpen(address provider, uint256 openDisputes);
    /// @notice The job's held timeout slash stays within reach of rulings until `releasesAt`, when the provider's
    /// settled jobs can no longer be disputed; claim it after that.
    error JobEscrowHoldNotReleased(uint256 jobId, uint256 releasesAt, uint256 nowTs);
    /// @notice A settlement pause ended at `endedAt`; the guardian may pause again from `availableAt` on.
    error JobEscrowSettlementPauseCoolingDown(uint256 endedAt, uint256 availableAt, uint256 nowTs);

    // Ruling deadline (issue 8, lower finding 1).
    /// @notice The arbiter's ruling deadline for the job's dispute passed at `deadline`: the dispute lapsed (or
    /// lapses with closeUnruledDispute) and can no longer be ruled on.
    error JobEscrowRulingDeadlinePassed(uint256 jobId, uint256 deadline, uint256 nowTs);
    /// @notice The arbiter may still rule on the job's dispute until `deadline`; closeUnruledDispute works after it.
    error JobEscrowRulingDeadlineNotReached(uint256 jobId, uint256 deadline, uint256 nowTs);

    // Issue 8, lower findings 5 and 8: the supply bound and tokens sent to the escrow directly.
    /// @notice The token's total supply `supply` exceeds `max` (2^96 - 1), the largest amount the escrow's 96-bit
    /// fields hold; deploy on a token whose supply fits.
    error JobEscrowSupplyTooLarge(uint256 supply, uint256 max);
    /// @notice The escrow's balance `balance` is no more than what it owes (`owed`): there are no stray tokens to sweep.
    error JobEscrowNothingToSweep(uint256 balance, uint256 owed);

    /// @notice A job was opened on `offerId` for `gpuCount` of its GPUs: `deposit` (= pricePerGpuSecond x
    /// maxGpuSeconds) was pulled from the client and `collateral` locked from the provider's stake. Everything an
    /// indexer needs about the job is here; no call is needed.
    event JobCreated(
        uint256 indexed jobId,
        address indexed client,
        address indexed provider,
        uint256 offerId,
        uint256 gpuCount,
        uint256 pricePerGpuSecond,
        uint256 maxGpuSeconds,
        uint256 deadline,
        uint256 acceptBy,
        uint256 deposit,
        uint256 collateral,
        bytes32 specHash
    );
    /// @notice The provider accepted the job.
    event JobAccepted(uint256 indexed jobId, address indexed provider, uint256 acceptedAt);
    /// @notice The job was cancelled, declined or expired before acceptance; the client was refunded.
    event JobCancelled(uint256 indexed jobId, address indexed by, uint256 refund);
    /// @notice A receipt settled the job: `gpuSeconds` billed, `payout` credited to the provider and `fee` to
    /// the treasury. The client may claim `price x (maxGpuSeconds - gpuSeconds)` (see claimRefunds). `reserve` is
    /// the job's dispute reserve, locked until its window closes: what it paid when free stake covered raising it,
    /// else its collateral (locked since creation). A FailedProvider receipt pays nothing and its `reserve`, the
    /// collateral, is released in the same transaction (CollateralReleased; see FailedProviderSlashed).
    event JobSettled(
        uint256 indexed jobId, uint256 gpuSeconds, uint256 payout, uint256 fee, uint8 outcome, uint256 reserve
    );
    /// @notice A receipt in a batch (settleBatch) could not settle and was skipped; nothing moved, and the other
    /// receipts of the batch settled. `status` is the job's status (Running unless `reason` is NotRunning);
    /// `reason` says why (see SkipReason). A single `settle` reverts with the matching error instead.
    event SettlementSkipped(uint256 indexed jobId, JobStatus status, SkipReason reason);
    /// @notice The client reclaimed the deposit after the deadline; `slashed` of the collateral went to it too.
    event JobTimedOut(uint256 indexed jobId, uint256 refund, uint256 slashed);
    /// @notice The client claimed the unused part of a settled job's deposit.
    event RefundClaimed(uint256 indexed jobId, address indexed client, uint256 amount);
    /// @notice A timeout slash of `amount` was taken while a dispute against `provider` was open or one of its settled
    /// jobs could still be disputed: it is held in the escrow, within reach of the rulings (after the provider's
    /// free and unbonding stake), and what they leave is claimable by the client once no dispute is open and the
    /// windows have closed (claimHeldSlash). `holdEpoch` names the hold it belongs to.
    event TimeoutSlashHeld(uint256 indexed jobId, address indexed provider, uint256 amount, uint256 holdEpoch);
    /// @notice The last open dispute of `provider` was ruled: of `claims` held in hold `holdEpoch`, `amount` is
    /// left for the timed-out clients, paid pro rata.
    event HeldSlashReleased(address indexed provider, uint256 indexed holdEpoch, uint256 amount, uint256 claims);
    /// @notice A FailedProvider receipt settled the job with nothing paid, and the provider paid what its silence would
    /// have cost it (issue 8, lower finding 7): the job's collateral was unlocked (CollateralReleased) and `amount`,
    /// the job's timeout fraction of it, was slashed as claimTimeout slashes it: to the client, or held in the escrow
    /// for the client when TimeoutSlashHeld comes with it (a dispute against the provider was open or one of its
    /// settled jobs was still disputable; claimHeldSlash pays it later).
    event FailedProviderSlashed(uint256 indexed jobId, address indexed provider, uint256 amount);
    /// @notice The client of a timed-out job received its share of a released hold.
    event HeldSlashClaimed(uint256 indexed jobId, address indexed client, uint256 amount);
    /// @notice A settled job's dispute reserve (`amount`, its collateral) went back to `provider`'s free stake: its
    /// dispute window closed, or its dispute was ruled.
    event CollateralReleased(uint256 indexed jobId, address indexed provider, uint256 amount);
    /// @notice Settlement credited `amount` less than the job's payout: the provider's free stake could not raise
    /// the dispute reserve to what the job paid (it raised it as far as it went), so the rest of the pay (at most the
    /// payout) stays in the escrow until `until`, when the job's dispute window closes. An upheld ruling draws on it
    /// right after the job's reserve, before the provider's other stake; otherwise it goes to the provider's
    /// earnings (WithheldPayReleased).
    event PayWithheld(uint256 indexed jobId, address indexed provider, uint256 amount, uint256 until);
    /// @notice `amount` of the job's withheld pay went to `provider`'s earnings: its dispute window closed
    /// (releaseCollateral), its dispute was rejected or lapsed, or an upheld ruling left it over.
    event WithheldPayReleased(uint256 indexed jobId, address indexed provider, uint256 amount);
    /// @notice The guardian stopped (true) or governance or the guardian resumed (false) settlement. A pause ends by
    /// itself at `endsAt` at the latest; from its end every running job has a whole grace to settle before it can time
    /// out.
    event SettlementPauseSet(bool paused, uint256 endsAt);
    /// @notice `provider` set the daily collateral budget its worker key may commit by accepting jobs alone.
    event WorkerBudgetSet(address indexed provider, uint256 budget);
    /// @notice The job's `gpuCount` GPUs went back to its offer's free capacity (the job ended).
    event JobGpusReleased(uint256 indexed jobId, uint256 gpuCount);
    /// @notice The client disputed a settlement, posting `bond`.
    event JobDisputed(uint256 indexed jobId, address indexed client, uint256 bond, bytes32 reasonHash);
    /// @notice The arbiter ruled on a dispute.
    event DisputeResolved(uint256 indexed jobId, bool upheld, uint256 slashed, uint256 compensation);
    /// @notice The arbiter found a running job's result fraudulent.
    event FraudReported(uint256 indexed jobId, bytes32 evidenceHash, uint256 slashed, uint256 compensation);
    /// @notice The fraud report on job `jobId` could not slash `amount` of what its client is owed (the stake was
    /// locked for other work or owed for earlier fraud): the job's fraud debt, collected by collectFraudDebt.
    /// `providerOwes` is all the provider now owes for fraud.
    event FraudDebtRecorded(uint256 indexed jobId, address indexed provider, uint256 amount, uint256 providerOwes);
    /// @notice `amount` of job `jobId`'s fraud debt was slashed from `provider` and paid to the job's client;
    /// `remaining` is what the job is still owed.
    event FraudDebtCollected(uint256 indexed jobId, address indexed provider, uint256 amount, uint256 remaining);
    /// @notice A provider withdrew its earnings.
    event EarningsWithdrawn(address indexed provider, uint256 amount);
    /// @notice Accrued protocol fees were sent to the treasury.
    event FeesWithdrawn(address indexed treasury, uint256 amount);
    /// @notice Governance replaced the oracle set; attestations under earlier epochs are void.
    event OracleSetUpdated(uint64 indexed epoch, address[] oracles, uint8 threshold);
    /// @notice A governance parameter (a JobParameter) changed.
    event ParameterSet(uint8 indexed param, uint256 previous, uint256 value);
    /// @notice Governance gave role `role` (a Role) to `account`.
    event RoleSet(uint8 indexed role, address indexed previous, address indexed account);

    // Ruling deadline (issue 8, lower finding 1).
    /// @notice A dispute was opened: the arbiter may rule until `rulingDeadline`, and `frozen` of the provider's
    /// stake (what the ruling can slash beyond the job's reserve, which stays locked) cannot be unstaked meanwhile.
    event DisputeFrozen(uint256 indexed jobId, address indexed provider, uint256 rulingDeadline, uint256 frozen);
    /// @notice No ruling came by the ruling deadline: the client's `bond` went back to it, nothing was slashed, and
    /// the job's reserve and the `frozen` stake were released to the provider.
    event DisputeLapsed(uint256 indexed jobId, address indexed client, uint256 bond, uint256 frozen);

    // Issue 8, lower finding 8.
    /// @notice Governance sent `amount` tokens the escrow held beyond what it owes (`owed`, unchanged) to `treasury`:
    /// tokens transferred to the escrow directly, which no job or party accounts for.
    event ExcessSwept(address indexed treasury, uint256 amount, uint256 owed);
}

/// @notice The job escrow's functions.
interface IJobEscrow is IJobEscrowTypes, IGoverned {
    /// @notice Open a job on `offerId`; pulls `maxGpuSeconds x price` from the caller (needs an allowance).
    /// @param deadline unix time by which a receipt must settle the job; from it plus the grace period on,
    /// receipts are refused and the client may reclaim everything (claimTimeout). It must leave at least
    /// minRunTime(); acceptance closes that long before it.
    /// @param gpuCount the GPUs the job reserves, 1 to the offer's count; receipts are metered against it. They are
    /// reserved on the offer until the job ends (ProviderStakingCapacityExceeded when fewer are free); see
    /// releaseJobGpus for settled jobs.
    /// @param maxPricePerGpuSecond the highest price the client accepts: if the offer's price is higher when the
    /// call lands, or it has fewer GPUs than `gpuCount`, the call reverts (JobEscrowOfferNoLongerFits)
    function createJob(
        uint256 offerId,
        uint256 maxGpuSeconds,
        uint256 deadline,
        bytes32 specHash,
        uint256 gpuCount,
        uint256 maxPricePerGpuSecond
    ) external returns (uint256 jobId);

    /// @notice Same as createJob, with an EIP-2612 permit in the same call, for `maxPricePerGpuSecond x
    /// maxGpuSeconds` (the most the job can cost; the escrow pulls the actual deposit). A permit that
    /// fails because it was already used (front-run) is ignored if the allowance suffices.
    function createJobWithPermit(
        uint256 offerId,
        uint256 maxGpuSeconds,
        uint256 deadline,
        bytes32 specHash,
        uint256 gpuCount,
        uint256 maxPricePerGpuSecond,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 jobId);

    /// @notice The provider (or its worker key) accepts an open job before its acceptance deadline; the provider
    /// must not be jailed and must still hold the minimum stake.
    function acceptJob(uint256 jobId) external;

    /// @notice Cancel an open job for a full refund: the client at any time before acceptance, the provider
    /// or its worker to decline it, anyone once the acceptance deadline has passed.
    function cancelJob(uint256 jobId) external;

    /// @notice Settle one job by its worker-signed receipt and the oracle set's attestation of it.
    function settle(Receipt calldata receipt, Signature calldata workerSig, Signature[] calldata attestation) external;

    /// @notice Settle many jobs with one attestation over all receipts. A receipt that cannot settle is skipped
    /// with SettlementSkipped(jobId, status, reason) and changes nothing; the others settle. Skipped are receipts
    /// whose job is no longer running (so a retried batch is harmless), late ones, and those a single `settle`
    /// would refuse for the receipt alone (wrong provider, not signed by the current worker key, impossible times or
    /// GPU-seconds, an end after the deadline, an unknown outcome): one provider cannot sink the batch.
    /// Faults of the batch itself revert it: an empty batch, lengths that differ, an attestation that does not
    /// verify, a settlement pause.
    /// @return settled how many jobs this call settled
    function settleBatch(Receipt[] calldata receipts, Signature[] calldata workerSigs, Signature[] calldata attestation)
        external
        returns (uint256 settled);

    /// @notice After deadline plus grace, refund a running job's whole deposit to its client and slash part of
    /// the provider's collateral to the client. Anyone may call; the money goes to the client.
    function claimTimeout(uint256 jobId) external;

    /// @notice After the rulings a held timeout slash waited for, pay the job's client its share of what they
    /// left. Anyone may call; the money goes to the client. The job timed out, or a FailedProvider receipt settled it
    /// (its slash was held the same way).
    function claimHeldSlash(uint256 jobId) external returns (uint256 amount);

    /// @notice The caller (a provider's staking wallet) sets how much collateral per day its worker key may
    /// commit by accepting jobs without the staking wallet. Until set, the budget is 25% of bonded stake.
    function setWorkerBudget(uint256 budget) external;

    /// @notice Collateral `provider`'s worker key has committed today, its daily budget, and when the day ends.
    function workerBudget(address provider) external view returns (uint256 used, uint256 budget, uint256 resetsAt);

    /// @notice Return settled jobs' collateral, kept as their dispute reserve, to their providers' free stake once
    /// their dispute windows have closed, and their withheld pay (PayWithheld) to the providers' earnings. Anyone may
    /// call; already released jobs are skipped; reverts with JobEscrowNothingToClaim when nothing was released.
    /// @return total the collateral released
    function releaseCollateral(uint256[] calldata jobIds) external returns (uint256 total);

    /// @notice Give settled jobs' GPUs back to their offers' free capacity. Settlement leaves them reserved so that
    /// it writes no slot beyond the job's (its gas stays flat); the worker (or anyone) calls this when a job ends,
    /// and releaseCollateral and dispute rulings do it too. Cancellation, declines, expiry, timeouts and fraud
    /// rulings release at once. Jobs already released, or not settled, are skipped.
    /// @return released how many jobs' GPUs this call released
    function releaseJobGpus(uint256[] calldata jobIds) external returns (uint256 released);

    /// @notice Send the unused part of settled jobs' deposits to their clients. Anyone may call.
    function claimRefunds(uint256[] calldata jobIds) external returns (uint256 total);

    /// @notice The client disputes a settlement within the dispute window, posting the dispute bond.
    function dispute(uint256 jobId, bytes32 reasonHash) external;

    /// @notice Arbiter: rule on a dispute. Upheld: the provider is slashed the dispute slash fraction of the job's
    /// deposit and jailed, the client compensated from the slash (up to what it paid) and its bond returned, the
    /// rest of the slash to the treasury. Rejected: the bond goes to the provider.
    function resolveDispute(uint256 jobId, bool upheld) external;

    /// @notice Anyone, after the job's ruling deadline (getJob's deadline while Disputed) passed with no ruling: the
    /// dispute lapses (status DisputeLapsed). The client's bond goes back to it, nothing is slashed, the job's
    /// reserve and frozen stake are released.
    function closeUnruledDispute(uint256 jobId) external;

    /// @notice Arbiter: a running job's result was found fraudulent (e.g. a failed Freivalds check). The client
    /// is refunded in full and compensated from the slash, the provider is jailed. The slash takes the job's
    /// collateral, then the provider's free and unbonding stake; never stake locked for other work, nor timeout
    /// slashes held for dispute rulings (those back the disputes of earlier settlements and go to their clients),
    /// nor what the provider owes for earlier fraud. What the slash cannot take of the client's due (the slash, up to
    /// the deposit) is the job's fraud debt (FraudDebtRecorded). While a provider owes fraud debts, their sum is frozen
    /// as an open dispute's slash is (no new job or lease locks it, it is neither unstaked nor, while unbonding stake
    /// is needed for it, withdrawn), and every other slash of the provider (timeouts, rulings, later fraud reports,
    /// the lease escrow's penalties and rulings) leaves it in place, even stake that backed the slashed job itself.
    function reportFraud(uint256 jobId, bytes32 evidenceHash) external;

    /// @notice Anyone: slash what `provider` owes for fraud, as far as its free and then unbonding stake goes (never
    /// stake locked for clients' running work), and pay it to the defrauded clients, oldest debt first
    /// (FraudDebtCollected for each). Reverts with JobEscrowNoFraudDebt when nothing is owed and
    /// JobEscrowFraudDebtNotCollectable when no stake can be taken now.
    /// @return collected What was slashed and paid now.
    function collectFraudDebt(address provider) external returns (uint256 collected);

    /// @notice The provider withdraws its credited earnings.
    function withdrawEarnings() external returns (uint256 amount);

    /// @notice Send accrued protocol fees to the treasury. Anyone may call.
    function withdrawFees() external returns (uint256 amount);

    /// @notice Governance: replace the oracle set. Every attestation under the old set becomes void.
    function setOracleSet(address[] calldata oracles, uint8 threshold) external;

    /// @notice Governance: set parameter `param` (a JobParameter) inside its hard range. An index past the last
    /// JobParameter reverts with JobEscrowParameterOutOfRange(param, value, 0, 0). A job's terms never change once
    /// both sides are bound: collateral, slash fractions and dispute window are fixed when it opens, the fee and the
    /// grace when it is accepted (a change applies to jobs accepted from the next second on; until acceptance the
    /// client may cancel for a full refund). See jobFeeTerms.
    function setParameter(uint8 param, uint256 value) external;

    /// @notice Governance: give role `role` (a Role) to `account`.
    function setRole(uint8 role, address account) external;

    /// @notice The treasury, guardian and arbiter.
    function roles() external view returns (address treasury, address guardian, address arbiter);

    /// @notice Guardian: stop new jobs and acceptances. Refunds, timeouts, settlement and withdrawals go on.
    function pause() external;

    /// @notice Guardian or governance: resume new jobs.
    function unpause() external;

    /// @notice Guardian: stop settlement (settle, settleBatch), e.g. while oracle keys are compromised, for at most
    /// MAX_SETTLEMENT_PAUSE, and not again within SETTLEMENT_PAUSE_COOLDOWN of the last pause's end. The timeout clock
    /// stops with it (work done and attested must not become a timeout because it could not settle): no job times out
    /// during the pause, and each running job has a whole grace after it. Refunds, disputes, withdrawals, unstaking
    /// and new work go on.
    function pauseSettlement() external;

    /// @notice Guardian or governance: resume settlement.
    function unpauseSettlement() external;

    /// @notice Whether the guardian has stopped settlement.
    function settlementPaused() external view returns (bool);

    /// @notice A job, decoded.
    function getJob(uint256 jobId) external view returns (JobView memory);

    /// @notice Number of jobs ever created (ids run from 1).
    function jobCount() external view returns (uint256);

    /// @notice A provider's record and balances.
    function providerRecord(address provider) external view returns (ProviderRecord memory);

    /// @notice What keeps `provider`'s stake in place, read by the staking contract: collateral locked for open
    /// jobs and settled jobs' dispute reserves (cannot be unstaked), the number of open disputes, the time until
    /// which a settled job of the provider can still be disputed (unbonded stake cannot be withdrawn before), and
    /// `frozen`: what the open disputes' rulings can slash beyond their reserves, which must stay in free stake
    /// (neither unstaked nor, while unbonding stake would be needed for it, withdrawn) until they are ruled or lapse.
    function unstakeBlockers(address provider)
        external
        view
        returns (uint256 locked, uint256 openDisputes, uint256 disputableUntil, uint256 frozen);

    /// @notice Pay of settled job `jobId` withheld until its dispute window closes (see PayWithheld); zero once
    /// released or drawn by a ruling.
    function withheldPay(uint256 jobId) external view returns (uint256);

    /// @notice What job `jobId`'s client is still owed for fraud (see reportFraud); zero once collected.
    function fraudDebt(uint256 jobId) external view returns (uint256);

    /// @notice What `provider` owes for fraud in all, and how many jobs it is owed to.
    function fraudDebtOf(address provider) external view returns (uint256 owed, uint256 debts);

    /// @notice Timeout slashes of `provider` held in the escrow for pending rulings, and what rulings left of
    /// earlier holds that the timed-out clients have not claimed yet.
    function heldSlashes(address provider) external view returns (uint256 held, uint256 released);

    /// @notice The dispute window new jobs get (JobParameter.DisputeWindow), read by the staking contract to keep its unbonding
    /// period longer.
    function disputeWindow() external view returns (uint256);

    /// @notice Seconds a deadline must leave after acceptance (JobParameter.MinRunTime); acceptance closes that long
    /// before the deadline.
    function minRunTime() external view returns (uint256);

    /// @notice Seconds the arbiter has to rule on a dispute (JobParameter.RulingPeriod), fixed per job when it is disputed.
    function rulingPeriod() external view returns (uint256);

    /// @notice The fee (basis points of each payment) and the grace (seconds after the deadline during which a receipt
    /// may still settle and no timeout can be claimed) that `jobId` settles and times out under: for a running job the
    /// ones in force when it was accepted, for any other job the current ones (what an acceptance now would fix).
    function jobFeeTerms(uint256 jobId) external view returns (uint256 feeBps, uint256 timeoutGrace);

    /// @notice The current parameters, indexed by JobParameter.
    function parameters() external view returns (uint256[10] memory);

    /// @notice The current oracle set, its threshold and epoch.
    function oracleSet() external view returns (address[] memory oracles, uint8 threshold, uint64 epoch);

    /// @notice Accrued fees not yet sent to the treasury.
    function accruedFees() external view returns (uint256);

    /// @notice The EIP-712 digest the worker key signs for `receipt`.
    function receiptDigest(Receipt calldata receipt) external view returns (bytes32);

    /// @notice The EIP-712 digest the oracles sign for a batch with `receiptsHash` under `epoch`.
    function attestationDigest(bytes32 receiptsHash, uint64 epoch) external view returns (bytes32);

    /// @notice The EIP-712 domain separator.
    function domainSeparator() external view returns (bytes32);

    // Issue 8, lower finding 8: tokens sent to the escrow directly.
    /// @notice What the escrow owes in total: open deposits, unclaimed refunds, provider earnings, accrued fees,
    /// dispute bonds and timeout slashes held or released but unclaimed. A running total, changed only where tokens
    /// enter or leave the escrow (settlement moves value inside it). The escrow's token balance is never below it.
    function owed() external view returns (uint256);

    /// @notice Governance: send the tokens the escrow holds beyond what it owes (balance - owed(), tokens sent to it
    /// directly) to the treasury. Never reaches an owed token; reverts with JobEscrowNothingToSweep when there is
    /// no excess.
    function sweepExcess() external returns (uint256 amount);
}
