// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IJobEscrowTypes} from "../../interfaces/IJobEscrow.sol";
import {IProviderStaking} from "../../interfaces/IProviderStaking.sol";
import {Governed} from "../utils/Governed.sol";
import {JobCore, JobSlots, JobTermsSlot} from "./JobSlots.sol";

/// @title JobEscrowBase
/// @notice The storage, constants and shared helpers of the job escrow. JobEscrow (the hot paths) and
/// JobEscrowDesk (disputes, timeouts, governance; run by delegatecall from JobEscrow) both derive from this one
/// contract and declare no state of their own, so their storage layouts are the same by construction.
abstract contract JobEscrowBase is IJobEscrowTypes, Governed, Pausable, ReentrancyGuardTransient, EIP712 {

    bytes32 public constant RECEIPT_TYPEHASH = keccak256(
        "JobReceipt(uint256 jobId,address provider,uint64 gpuSeconds,uint64 startTime,uint64 endTime,bytes32 resultHash,uint8 outcome)"
    );
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256("Attestation(bytes32 receiptsHash,uint64 oracleEpoch)");

    uint256 internal constant BPS = 10_000;
    /// @notice Slack, in seconds per GPU, between a receipt's wall time and the GPU-seconds it may claim.
    uint256 public constant METER_TOLERANCE_SECONDS = 5;
    uint256 public constant MAX_JOB_DURATION = 365 days;
    uint256 public constant MAX_ORACLES = 32;
    /// @notice The longest one settlement pause lasts before it ends by itself, and how long after a pause ends the
    /// guardian must wait to pause again: the guardian can delay timeouts (the pause stops their clock), never
    /// block them for good.
    uint256 public constant MAX_SETTLEMENT_PAUSE = 3 days;
    uint256 public constant SETTLEMENT_PAUSE_COOLDOWN = 1 days;

    /// @dev How many JobParameters there are (a literal, as array lengths need one; tests/python/test_parameter_names.py
    /// checks it against the enum): setParameter refuses an index from here on.
    uint8 internal constant PARAM_COUNT = 10;
    /// @dev Set at deployment (the constructor's array predates the parameter); governance may change it.
    uint256 internal constant DEFAULT_MIN_RUN_TIME = 10 minutes;
    /// @dev Set at deployment like the minimum run time. Two weeks gives an arbiter time to ask both sides for
    /// evidence and re-run a job, while a dispute the arbiter ignores freezes the disputed stake for two weeks at most
    /// (the cap, 60 days, bounds what governance can impose; see SECURITY.md).
    uint256 internal constant DEFAULT_RULING_PERIOD = 14 days;
    /// @dev Set at settlement in JobCore.collateralBps (a basis-point value <= 10_000 < 2^14, so bit 15 is free): the
    /// job's dispute reserve was raised from its collateral to what the client paid, the most a ruling gives back.
    uint16 internal constant RESERVE_RAISED = 1 << 15;
    /// @dev Until a provider sets its own, its worker key may commit this share of bonded stake per day.
    uint256 internal constant DEFAULT_WORKER_BUDGET_BPS = 2_500;

    modifier onlyArbiter() {
        if (msg.sender != _arbiter) revert Unauthorized(msg.sender, "arbiter");
        _;
    }


    /// @dev Read and written by every settlement. 96 + 16 + 24 + 8 + 24 + 24 + 32 + 32 bits (one slot). The epoch
    /// counts oracle set changes, so 24 bits (16.7 million sets) outlast any governance; the dispute window (at most
    /// 30 days) and the grace (at most 7 days) fit 24 bits of seconds. Fees fit 96 bits: the constructors refuse a
    /// token whose supply exceeds 2^96.
    struct SettleConfig {
        uint96 accruedFees;
        uint16 feeBps;
        uint24 oracleEpoch;
        uint8 oracleThreshold;
        uint24 disputeWindow;
        uint24 timeoutGrace;
        // The guardian's separate stop of settlement (compromised oracle keys): settlement is paused while
        // block.timestamp < pauseEnds, and no job times out before pauseEnds + grace.
        uint32 pauseEnds;
        // When the current fee and grace took effect (issue 8, lower finding 4): a job accepted before it settles
        // and times out under the terms in force at its acceptance, looked up in _feeTerms.
        uint32 termsSince;
    }

    /// @dev The other parameters, read when jobs open, time out or are disputed. 3 x 16 + 32 + 96 bits.
    struct Params {
        uint16 collateralBps;
        uint16 timeoutSlashBps;
        uint16 disputeSlashBps;
        uint32 acceptWindow;
        uint96 disputeBond;
        uint32 minRunTime;
        uint32 rulingPeriod; // issue 8, lower finding 1: fixed per job in DisputeTerms when it is disputed
    }

    /// @dev Collateral a provider's worker key committed by accepting jobs alone on `day` (unix day number).
    struct WorkerBudget {
        uint96 used;
        uint96 budget;
        uint32 day;
        bool custom;
    }

    /// @dev Timeout slashes taken while disputes against the provider are open or its settled jobs are disputable,
    /// for hold `epoch`; `claims` is what the timed-out clients were owed in total, `held` what the rulings have not
    /// drawn yet, `until` the end of the dispute windows the hold covers (it is released once that has passed and no
    /// dispute is open).
    struct Hold {
        uint96 held;
        uint96 claims;
        uint32 epoch;
        uint32 until;
    }

    /// @dev The fee and grace in force from `since` on (issue 8, lower finding 4): a job settles and times out under
    /// the entry in force when it was accepted. Appended by every change of either; the first entry (since 0) holds
    /// the deployment's.
    struct FeeTerms {
        uint16 feeBps;
        uint24 timeoutGrace;
        uint32 since;
    }

    /// @dev A timed-out job's claim on its provider's hold.
    struct HeldClaim {
        uint96 amount;
        uint32 epoch;
    }

    // Job slots 1 and 2 (JobCore, JobTermsSlot) are declared in JobSlots.sol beside their word layout.

    /// @dev Job slot 3, off the settlement path.
    struct JobMeta {
        uint64 offerId;
        uint32 originalMaxGpuSeconds;
        uint80 disputeBond; // the bond's cap, 10^24, is below 2^80
        bool reserveReleased; // the collateral kept for the dispute window went back to the provider's free stake
        // Terms fixed at creation for the cold paths (the settlement path's fee and grace are in SettleConfig).
        uint32 disputeWindow;
        uint16 timeoutSlashBps;
        uint16 disputeSlashBps;
        bool gpusReleased; // the job's GPUs went back to the offer (issue 11; settlement leaves them reserved)
    }

    /// @dev Per provider, updated once per run of a batch. 96 + 96 + 64 bits.
    struct ProviderBook {
        uint96 locked;
        uint96 earnings;
        uint64 gpuSecondsServed;
    }

    /// @dev 96 + 5 x 32 bits, written once per run of a batch. lastSettledAt keeps unbonded stake in place until the
    /// dispute window of the provider's latest settlement has closed (see unstakeBlockers). valuePaid saturates
    /// rather than revert (it is a reputation figure; settlement must not stop on it).
    struct ProviderStats {
        uint96 valuePaid;
        uint32 completed;
        uint32 failed;
        uint32 timedOut;
        uint32 openDisputes;
        uint32 lastSettledAt;
    }

    /// @dev Off the settlement path. disputeWindow is the longest dispute window of any job opened on the provider's
    /// offers: its settled jobs can be disputed until lastSettledAt + disputeWindow at the latest, whatever
    /// governance has set since.
    struct ProviderLedger {
        uint32 disputesLost;
        uint32 disputeWindow;
        // What the open disputes can slash beyond their reserves (already locked): kept in free stake, not unstaked.
        uint96 disputeFrozen;
        // The latest ruling deadline of any dispute against the provider so far (it only grows).
        uint32 latestRulingDeadline;
        // When the current hold is released whatever disputes are open then: fixed as slashes are held, from the
        // rulings they were held for (disputes opened later cannot keep it closed).
        uint32 holdDeadline;
    }

    /// @dev A provider's fraud debts (outside review of 2026-12-03): what fraud reports could not slash and still owe
    /// their clients, in all, and the queue of the jobs owed (collected oldest first): `first` is the oldest entry
    /// still owed, `next` where the next one goes.
    struct FraudDebts {
        uint96 owed;
        uint80 first;
        uint80 next;
    }

    /// @dev A disputed job's ruling deadline (fixed when disputed, so governance cannot shorten a pending one) and
    /// what the dispute froze of the provider's stake beyond the job's reserve, released by the ruling or the lapse.
    struct DisputeTerms {
        uint32 rulingDeadline;
        uint96 frozen;
    }

    /// @dev What a batch owes one provider, written to storage when the provider changes.
    struct Run {
        bytes32 domainSeparator;
        uint256 timeoutGrace; // the current grace and fee, for jobs accepted from termsSince on
        uint256 feeBps;
        uint256 termsSince;
        uint256 pauseEnds;
        uint256 feesBefore; // `fees` when this provider's run began: its value paid is earnings + the fees since
        uint256 free; // the provider's bonded stake not locked, less the reserves raised so far in this run
        uint256 reserved; // reserves raised in this run, added to the provider's locked stake by _flush
        address provider;
        address worker;
        uint256 earnings;
        uint256 gpuSeconds;
        uint256 completed;
        uint256 failed;
        uint256 fees;
    }

    IERC20 internal immutable _token;
    IProviderStaking internal immutable _staking;

    SettleConfig internal _config;
    Params internal _params;
    address internal _treasury;
    address internal _guardian;
    address internal _arbiter;
    // One slot, written by every opening: the job counter and (issue 8, lower finding 8) the running total of what the
    // escrow owes, changed only where tokens enter or leave it. Both fit 128 bits: owed <= the supply < 2^96.
    uint128 internal _jobCount;
    uint128 internal _owed;
    address[] internal _oracles;

    mapping(address oracle => uint32 epoch) internal _oracleEpochOf;
    // slither-disable-next-line uninitialized-state written only by sstore in _storeCore and _settleOne (one packed word), which Slither does not see
    mapping(uint256 jobId => JobCore) internal _jobCore;
    // slither-disable-next-line uninitialized-state JobEscrow and JobEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(uint256 jobId => JobTermsSlot) internal _jobTerms;
    mapping(uint256 jobId => JobMeta) internal _jobMeta;
    mapping(uint256 jobId => bytes32) internal _specHash;
    mapping(address provider => ProviderBook) internal _books;
    // slither-disable-next-line uninitialized-state JobEscrow and JobEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(address provider => ProviderStats) internal _stats;
    // slither-disable-next-line uninitialized-state JobEscrow and JobEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(address provider => WorkerBudget) internal _workerBudgets;
    // slither-disable-next-line uninitialized-state JobEscrow and JobEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(address provider => Hold) internal _holds;
    mapping(address provider => mapping(uint256 epoch => Hold)) internal _released;
    mapping(uint256 jobId => HeldClaim) internal _heldClaims;
    // slither-disable-next-line uninitialized-state JobEscrow and JobEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(address provider => uint256) internal _heldReleased;
    // slither-disable-next-line uninitialized-state JobEscrow and JobEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(address provider => ProviderLedger) internal _ledgers;
    // Ruling deadline (issue 8, lower finding 1), appended so the layout only grows.
    // slither-disable-next-line uninitialized-state JobEscrow and JobEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(uint256 jobId => DisputeTerms) internal _disputes;
    // Every fee and grace in force since deployment, oldest first (issue 8, lower finding 4).
    FeeTerms[] internal _feeTerms;
    // Pay withheld at settlement until the job's dispute window closes (issue 8, third review, finding 3): what a
    // ruling may give back beyond the reserve when the provider's free stake could not raise it. Appended.
    mapping(uint256 jobId => uint256) internal _withheld;
    // Fraud debts (outside review of 2026-12-03), appended: while a provider owes one, its sum counts in the
    // provider's disputeFrozen, and the provider in openDisputes once (so the paths that read only that count see
    // it), and every other slash of the provider leaves the sum in place beyond the slashed work's own collateral or
    // reserve (JobEscrowDesk._penalize, LeaseEscrowDesk._slashForRuling).
    // slither-disable-next-line uninitialized-state JobEscrow and JobEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(address provider => FraudDebts) internal _fraudDebts;
    mapping(address provider => mapping(uint256 index => uint256 jobId)) internal _fraudQueue;
    // slither-disable-next-line uninitialized-state JobEscrow and JobEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(uint256 jobId => uint256) internal _fraudDebtOf;

    constructor(IERC20 token_, IProviderStaking staking_, address governance)
        EIP712("gpusettle JobEscrow", "1")
        Governed(governance)
    {
        if (address(token_) == address(0) || address(staking_) == address(0)) revert ZeroAddress();
        // Deposits, stake, earnings, fees and holds are 96-bit fields (issue 8, lower finding 5): every token amount
        // must fit, which holds when the whole supply does (ComputeToken cannot mint after deployment).
        uint256 supply = token_.totalSupply();
        if (supply > type(uint96).max) revert JobEscrowSupplyTooLarge(supply, type(uint96).max);
        _token = token_;
        _staking = staking_;
    }

    /// @dev `amount` tokens came in (a deposit, a bond, a slash paid to the escrow): the escrow owes that much more.
    function _tokensIn(uint256 amount) internal {
        // Safe: the total owed is at most the escrow's balance, at most the supply < 2^96 (see the constructor).
        unchecked {
            _owed += uint128(amount);
        }
    }

    /// @dev `amount` tokens are about to leave to whoever they were owed to. Checked: paying out more than is owed
    /// would be an accounting bug, never a sweep's excess.
    function _tokensOut(uint256 amount) internal {
        _owed -= SafeCast.toUint128(amount);
    }

    /// @dev Hard caps: no caller, governance included, can go outside them.
    function _bounds(JobParameter param) internal pure returns (uint256 min, uint256 max) {
        if (param == JobParameter.FeeBps) return (0, 1_000); // at most 10% of a payment
        if (param == JobParameter.CollateralBps) return (0, BPS); // at most the job's value
        if (param == JobParameter.TimeoutSlashBps) return (0, BPS); // of the collateral
        if (param == JobParameter.DisputeSlashBps) return (0, BPS); // of the job's deposit
        if (param == JobParameter.DisputeWindow) return (1 hours, 30 days);
        if (param == JobParameter.AcceptWindow) return (1 minutes, 7 days);
        // Neither may be 0: a job opened, accepted and timed out in consecutive seconds moves collateral to whoever
        // opened it before anyone could react, and a receipt needs time to be posted.
        if (param == JobParameter.TimeoutGrace) return (5 minutes, 7 days);
        if (param == JobParameter.MinRunTime) return (5 minutes, 1 days);
        // An arbiter needs a day at least; past 60 days a dispute nobody rules on keeps stake frozen too long.
        if (param == JobParameter.RulingPeriod) return (1 days, 60 days);
        return (0, 1_000_000 ether); // JobParameter.DisputeBond
    }

    /// @dev Adds to the accrued fees alone: writing back the whole configuration would re-pack every field.
    function _accrueFees(uint256 fees) internal {
        if (fees == 0) return;
        _config.accruedFees = SafeCast.toUint96(_config.accruedFees + fees);
    }

    function _setOracleSet(address[] memory oracles, uint8 threshold) internal {
        uint256 n = oracles.length;
        if (n == 0 || n > MAX_ORACLES || threshold == 0 || threshold > n) revert JobEscrowInvalidOracleSet(n, threshold);
        SettleConfig memory cfg = _config;
        uint24 epoch = cfg.oracleEpoch + 1;
        for (uint256 i = 0; i < n; ++i) {
            address o = oracles[i];
            if (o == address(0) || _oracleEpochOf[o] == epoch) revert JobEscrowInvalidOracle(o);
            _oracleEpochOf[o] = epoch;
        }
        _oracles = oracles;
        cfg.oracleEpoch = epoch;
        cfg.oracleThreshold = threshold;
        _config = cfg;
        emit OracleSetUpdated(epoch, oracles, threshold);
    }

    function _setParameter(uint8 index, uint256 value) internal {
        if (index >= PARAM_COUNT) revert JobEscrowParameterOutOfRange(index, value, 0, 0);
        JobParameter param = JobParameter(index);
        (uint256 min, uint256 max) = _bounds(param);
        if (param == JobParameter.DisputeWindow) {
            // Disputes must close before unbonding stake can leave.
            uint256 unbonding = _staking.unbondingPeriod();
            if (unbonding <= max) max = unbonding - 1;
        }
        if (value < min || value > max) revert JobEscrowParameterOutOfRange(index, value, min, max);
        uint256 previous = _parameters()[index];
        // Each value fits its field: every cap above is below the field's maximum.
        if (param == JobParameter.FeeBps) _config.feeBps = uint16(value);
        else if (param == JobParameter.CollateralBps) _params.collateralBps = uint16(value);
        else if (param == JobParameter.TimeoutSlashBps) _params.timeoutSlashBps = uint16(value);
        else if (param == JobParameter.DisputeSlashBps) _params.disputeSlashBps = uint16(value);
        else if (param == JobParameter.DisputeWindow) _config.disputeWindow = uint24(value);
        else if (param == JobParameter.AcceptWindow) _params.acceptWindow = uint32(value);
        else if (param == JobParameter.TimeoutGrace) _config.timeoutGrace = uint24(value);
        else if (param == JobParameter.MinRunTime) _params.minRunTime = uint32(value);
        else if (param == JobParameter.RulingPeriod) _params.rulingPeriod = uint32(value);
        else _params.disputeBond = uint96(value);
        emit ParameterSet(index, previous, value);
    }

    function _setRole(uint8 index, address account) internal {
        if (account == address(0)) revert ZeroAddress();
        if (index > uint8(type(Role).max)) revert JobEscrowUnknownRole(index);
        Role role = Role(index);
        address previous;
        if (role == Role.Treasury) (previous, _treasury) = (_treasury, account);
        else if (role == Role.Guardian) (previous, _guardian) = (_guardian, account);
        else (previous, _arbiter) = (_arbiter, account);
        emit RoleSet(index, previous, account);
    }

    /// @dev The fee and grace in force now start applying to jobs accepted from the next second on: a job accepted in
    /// this block, before or after the change, keeps the terms its provider accepted under.
    function _recordFeeTerms() internal {
        SettleConfig memory cfg = _config;
        // Safe: block.timestamp + 1 < 2^32 until 2106.
        uint32 since = uint32(block.timestamp + 1);
        _feeTerms.push(FeeTerms({feeBps: cfg.feeBps, timeoutGrace: cfg.timeoutGrace, since: since}));
        _config.termsSince = since;
    }

    /// @dev The fee and grace of a job accepted at `acceptedAt`: the last entry in force at that time. Entries are
    /// sorted by `since` (each is later than or equal to the one before), the first is in force from 0.
    function _feeTermsAt(uint256 acceptedAt) internal view returns (uint256 feeBps, uint256 timeoutGrace) {
        uint256 lo = 0;
        uint256 hi = _feeTerms.length;
        // Find the first entry starting after acceptedAt; the one before it applies.
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (_feeTerms[mid].since > acceptedAt) hi = mid;
            else lo = mid + 1;
        }
        FeeTerms memory t = _feeTerms[lo - 1];
        return (t.feeBps, t.timeoutGrace);
    }

    /// @dev The fee and grace a running job accepted at `acceptedAt` is held to.
    function _jobFeeTerms(uint256 acceptedAt, SettleConfig memory cfg)
        internal
        view
        returns (uint256 feeBps, uint256 timeoutGrace)
    {
        if (acceptedAt >= cfg.termsSince) return (cfg.feeBps, cfg.timeoutGrace);
        return _feeTermsAt(acceptedAt);
    }

    function _collateral(uint256 deposit, uint256 collateralBps) internal pure returns (uint256) {
        // Rounded up, so even the smallest job locks some collateral when the fraction is non-zero.
        // Safe from overflow: deposit < 2^96 and collateralBps <= 10_000 < 2^14.
        unchecked {
            return (deposit * collateralBps + BPS - 1) / BPS;
        }
    }

    /// @dev One SSTORE for the whole slot: assigning the struct field by field costs a read-modify-write each.
    function _storeCore(uint256 jobId, JobCore memory c) internal {
        uint256 word = JobSlots.packCore(c);
        JobCore storage ref = _jobCore[jobId];
        assembly ("memory-safe") {
            sstore(ref.slot, word)
        }
    }

    function _coreWithStatus(uint256 jobId, JobStatus expected) internal view returns (JobCore memory c) {
        c = _jobCore[jobId];
        if (c.status != expected) _revertStatus(jobId, c.status, expected);
    }

    function _revertStatus(uint256 jobId, JobStatus status, JobStatus expected) internal pure {
        if (status == JobStatus.None) revert JobEscrowUnknownJob(jobId);
        revert JobEscrowWrongStatus(jobId, status, expected);
    }

    function _isSettled(JobStatus s) internal pure returns (bool) {
        return s == JobStatus.Settled || s == JobStatus.Disputed || s == JobStatus.DisputeUpheld
            || s == JobStatus.DisputeRejected || s == JobStatus.DisputeLapsed;
    }

    function _parameters() internal view returns (uint256[PARAM_COUNT] memory v) {
        Params memory p = _params;
        SettleConfig memory cfg = _config;
        v[uint8(JobParameter.FeeBps)] = cfg.feeBps;
        v[uint8(JobParameter.CollateralBps)] = p.collateralBps;
        v[uint8(JobParameter.TimeoutSlashBps)] = p.timeoutSlashBps;
        v[uint8(JobParameter.DisputeSlashBps)] = p.disputeSlashBps;
        v[uint8(JobParameter.DisputeWindow)] = cfg.disputeWindow;
        v[uint8(JobParameter.AcceptWindow)] = p.acceptWindow;
        v[uint8(JobParameter.TimeoutGrace)] = cfg.timeoutGrace;
        v[uint8(JobParameter.DisputeBond)] = p.disputeBond;
        v[uint8(JobParameter.MinRunTime)] = p.minRunTime;
        v[uint8(JobParameter.RulingPeriod)] = p.rulingPeriod;
    }

    /// @dev Give a job's GPUs back to its offer, once (issue 11: capacity).
    function _releaseJobGpus(uint256 jobId, uint256 gpuCount) internal returns (bool) {
        JobMeta storage m = _jobMeta[jobId];
        if (m.gpusReleased) return false;
        m.gpusReleased = true;
        emit JobGpusReleased(jobId, gpuCount);
        // Safe: gpuCount was stored from a uint8-checked value at creation.
        _staking.releaseGpus(m.offerId, uint8(gpuCount));
        return true;
    }

    /// @dev Until when a settled job of `provider` may still be disputed (0: it never settled one).
    function _disputableUntil(address provider, uint256 lastSettledAt) internal view returns (uint256) {
        return lastSettledAt == 0 ? 0 : lastSettledAt + _ledgers[provider].disputeWindow;
    }

    /// @dev The timeout slash of job `jobId` (issue 8, lower finding 7): its timeout fraction (fixed at creation) of
    /// `collateral`, taken from `provider` for `client` by claimTimeout and by a FailedProvider receipt alike, the
    /// job's collateral already unlocked. The slash takes free stake, then unbonding stake, never the `keep` locked
    /// for the provider's other work. While a dispute against the provider is open or one of its settled jobs can
    /// still be disputed (until `disputableUntil`), the slash stays in the escrow as the client's held claim, within
    /// a ruling's reach (see JobEscrowDesk._penalize), so that no slash paid to a job opened from another wallet of
    /// the provider moves its stake out between a settlement and its dispute.
    function _timeoutSlash(
        uint256 jobId,
        address provider,
        address client,
        uint256 collateral,
        uint256 keep,
        uint256 disputableUntil
    ) internal returns (uint256 slashed) {
        uint256 amount = collateral * _jobMeta[jobId].timeoutSlashBps / BPS;
        // Not more than this job's own collateral, just unlocked: the slash it backs comes first, before any fraud
        // debt the provider owes (a debt cannot take what was locked for another client's work; attack review of the
        // fraud debt, round 2), and leaves what covered the debts before.
        if (_disputesOpen(_stats[provider].openDisputes, _fraudDebts[provider].owed) == 0 && block.timestamp > disputableUntil) {
            return _staking.slash(provider, amount, client, keep);
        }
        slashed = _staking.slash(provider, amount, address(this), keep);
        _tokensIn(slashed);
        Hold storage h = _holds[provider];
        // Safe: both sums are bounded by stake that existed, < 2^96; timestamps fit 32 bits until 2106.
        (h.held, h.claims) = (uint96(h.held + slashed), uint96(h.claims + slashed));
        if (disputableUntil > h.until) h.until = uint32(disputableUntil);
        // The rulings this slash is held for: the open disputes' (their deadlines are past the latest one so far),
        // and those of disputes the client may still open on the settlements disputable until `disputableUntil`.
        ProviderLedger storage l = _ledgers[provider];
        uint256 deadline = Math.max(disputableUntil + _params.rulingPeriod, l.latestRulingDeadline);
        if (deadline > l.holdDeadline) l.holdDeadline = uint32(deadline);
        _heldClaims[jobId] = HeldClaim({amount: uint96(slashed), epoch: h.epoch});
        emit TimeoutSlashHeld(jobId, provider, slashed, h.epoch);
    }

    /// @dev The disputes of `open` (a provider's openDisputes): the count holds one more while fraud debts are `owed`.
    function _disputesOpen(uint256 open, uint256 owed) internal pure returns (uint256) {
        return owed == 0 ? open : open - 1;
    }

    /// @dev A settled job's dispute reserve: what it paid when the reserve was raised at settlement, else its
    /// collateral. `deposit` is the original deposit (price x the original maximum GPU-seconds).
    function _reserveOf(uint256 jobId, uint256 bps, uint256 deposit, uint256 paid) internal view returns (uint256) {
        if (bps & RESERVE_RAISED != 0) return paid;
        // Free stake raised part of it beside the collateral (stored above bit 128 of the withheld slot).
        return _collateral(deposit, bps) + (_withheld[jobId] >> 128);
    }

    function _budgetOf(WorkerBudget memory w, uint256 bonded) internal pure returns (uint256) {
        return w.custom ? w.budget : bonded * DEFAULT_WORKER_BUDGET_BPS / BPS;
    }
}
