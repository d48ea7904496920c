// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IJobEscrow} from "../../interfaces/IJobEscrow.sol";
import {ILeaseEscrowTypes} from "../../interfaces/ILeaseEscrow.sol";
import {IProviderStaking} from "../../interfaces/IProviderStaking.sol";
import {Governed} from "../utils/Governed.sol";

/// @title LeaseEscrowBase
/// @notice The storage, constants and shared helpers of the lease escrow. LeaseEscrow (opening, running,
/// checkpoints, views) and LeaseEscrowDesk (expiry, collateral release, disputes, governance; run by delegatecall
/// from LeaseEscrow) both derive from this one contract and declare no state of their own, so their storage layouts
/// are the same by construction.
/// @dev Gas shapes the storage. Opening writes three slots: the meter (deposit not yet covered, paidThrough, fixed
/// end, status, rate, parameter set) that top-ups, closes and checkpoints read and write; the parties (client, class,
/// notice, offer, GPU count, guarantee) read off the hot path; and the spec hash. Acceptance writes the payee
/// (provider, up seconds, last checkpoint time, guarantee) that checkpoints read and write, and the settlement slot
/// (collateral, start, end time, dispute bond). Parameters are kept as numbered immutable sets: a lease stores the
/// number of the set current at its opening, so governance never changes a running lease's terms.
abstract contract LeaseEscrowBase is ILeaseEscrowTypes, Governed, ReentrancyGuardTransient, EIP712 {
    bytes32 public constant CHECKPOINT_TYPEHASH = keccak256(
        "LeaseCheckpoint(uint256 leaseId,uint64 fromTime,uint64 toTime,uint64 upSeconds,uint64 downSeconds,bytes32 heartbeatsRoot)"
    );
    bytes32 public constant ATTESTATION_TYPEHASH =
        keccak256("CheckpointAttestation(bytes32 checkpointsHash,uint64 oracleEpoch)");

    uint256 internal constant BPS = 10_000;
    /// @notice The latest end time a lease may name, from its opening.
    uint256 public constant MAX_LEASE_DURATION = 3 * 365 days;
    /// @notice The longest one checkpoint pause lasts before it ends by itself, and how long after a pause ends the
    /// guardian must wait to pause again (the job escrow's bounds): the guardian can delay expiries, never cause them.
    uint256 public constant MAX_SETTLEMENT_PAUSE = 3 days;
    uint256 public constant SETTLEMENT_PAUSE_COOLDOWN = 1 days;

    /// @dev How many LeaseParameters there are (a literal, as array lengths need one; tests/python/test_parameter_names.py
    /// checks it against the enum): setParameter refuses an index from here on.
    uint8 internal constant PARAM_COUNT = 8;

    uint8 internal constant CLASS_RECLAIMABLE = 1;
    uint8 internal constant CLASS_INTERRUPTIBLE = 2;

    /// @dev Slot 1, hot: read by top-ups, closes, reclaims and checkpoints. `paidThrough` holds the acceptance
    /// deadline while the lease is Open. `remaining` is the deposit no checkpoint covered yet; once the lease Ended
    /// it is what the client may claim. Timestamps fit 32 bits until 2106; the rate is below 2^8 x 2^64.
    struct Meter {
        uint96 remaining;
        uint32 paidThrough;
        uint32 fixedEnd; // billing end fixed by the end time, a close or a reclaim; 0: none yet
        LeaseStatus status;
        uint72 rate;
        uint16 paramSet; // the parameter set current at opening
    }

    /// @dev Slot 2, written at acceptance (opening stays at three slots) and by checkpoints.
    struct Payee {
        address provider;
        uint32 upSeconds;
        uint32 lastCheckpointAt;
        uint16 guaranteeBps; // copied from Parties at acceptance, for the checkpoint path
        // Some of the lease's ruling reserve is not locked (its Withheld record is not empty): each checkpoint then
        // locks more of it from free stake and releases the pay withheld beyond what stays unlocked.
        bool shortReserve;
    }

    /// @dev Slot 3, written at opening, off the checkpoint path (but for penalties and final checkpoints).
    struct Parties {
        address client;
        uint8 availabilityClass;
        uint32 noticeSeconds;
        uint32 offerId;
        uint8 gpuCount;
        uint16 guaranteeBps;
    }

    /// @dev Slot 4, written at acceptance and by disputes.
    struct Settlement {
        uint96 collateral; // still locked for the lease (penalties and slashes draw it down)
        uint32 startedAt;
        uint32 endTime; // the client's end time (the meter's fixedEnd may move earlier)
        uint80 disputeBond; // the bond's cap, 10^24, is below 2^80
        bool endedBeforeDispute;
        bool collateralReleased;
    }

    /// @dev One parameter set, fixed for every lease opened under it. 16 + 32 + 3 x 16 + 3 x 32 + 80 bits.
    struct ParamSet {
        uint16 feeBps;
        uint32 collateralSeconds;
        uint16 expirySlashBps;
        uint16 disputeSlashBps;
        uint32 disputeWindow;
        uint32 acceptWindow;
        uint32 grace;
        uint80 disputeBond;
    }

    /// @dev The lease's checkpoint dispute, one slot: `frozen` and `rulingDeadline` while it is open (zero after),
    /// `disputedThrough` for good.
    struct CheckpointDispute {
        // What an upheld ruling can slash beyond the collateral the ruling unlocks first (issue 11), kept in free
        // stake while the dispute is open. Below 2^96: the slash is at most what the lease paid, part of its deposit.
        uint96 frozen;
        // The arbiter rules by then (inclusive); after it anyone may close the dispute as lapsed. Fits 32 bits
        // until 2106: the ruling period is capped at 60 days.
        uint32 rulingDeadline;
        // The lease's paidThrough when it was last disputed: a checkpointed state is disputed once (a new
        // checkpoint always moves paidThrough forward).
        uint32 disputedThrough;
    }

    /// @dev Read by every opening and checkpoint batch.
    struct Config {
        uint128 accruedFees;
        uint16 paramSet; // the set new leases get
        uint32 acceptWindow; // that set's acceptance window, here so that opening reads one slot less
        bool openingPaused;
        // Checkpoints are paused while block.timestamp < pauseEnds; no lease expires before pauseEnds + grace.
        uint32 pauseEnds;
    }

    /// @dev Per provider, updated once per run of checkpoints in a batch.
    struct Book {
        uint96 locked;
        uint96 earnings;
        uint32 openDisputes;
        uint32 disputableUntil;
    }

    /// @dev What a batch owes one provider, written to storage when the provider changes.
    struct Run {
        address provider;
        uint256 earnings;
        uint256 disputableUntil;
        uint256 fees;
        uint256 paramSet;
        uint256 feeBps;
        uint256 disputeWindow;
        uint256 disputeSlashBps;
        uint256 free; // the provider's free stake less the ruling reserves locked so far in this run
    }

    IERC20 internal immutable _token;
    IProviderStaking internal immutable _staking;
    IJobEscrow internal immutable _jobs;

    Config internal _config;
    uint256 internal _leaseCount;
    mapping(uint256 paramSet => ParamSet) internal _paramSets;
    mapping(uint256 leaseId => Meter) internal _meters;
    // slither-disable-next-line uninitialized-state LeaseEscrow and LeaseEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(uint256 leaseId => Payee) internal _payees;
    // slither-disable-next-line uninitialized-state LeaseEscrow and LeaseEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(uint256 leaseId => Parties) internal _parties;
    // slither-disable-next-line uninitialized-state LeaseEscrow and LeaseEscrowDesk share this storage (delegatecall): one writes it, the other reads it; Slither analyses each contract alone
    mapping(uint256 leaseId => Settlement) internal _settlements;
    mapping(uint256 leaseId => bytes32) internal _specHash;
    mapping(address provider => Book) internal _books;
    /// @dev When the arbiter last rejected a dispute of the lease's checkpoint and the lease went on (0: never). No
    /// checkpoint can land while a dispute is open, so the expiry clock's grace runs from this time at the earliest.
    /// Written and read on cold paths only (a rejected ruling, an expiry claim): the hot slots stay as they are.
    mapping(uint256 leaseId => uint256) internal _resumedAt;
    /// @dev The lease's last checkpoint dispute (see the struct). Appended (like the next one) so that
    /// the storage layout only grows; written and read on the dispute paths only.
    // slither-disable-next-line uninitialized-state LeaseEscrow and LeaseEscrowDesk share this storage (delegatecall): the desk writes it, the escrow reads it (getLease); Slither analyses each contract alone
    mapping(uint256 leaseId => CheckpointDispute) internal _disputes;
    /// @dev The sum of the open disputes' `frozen` over the provider's leases: the fourth value of unstakeBlockers.
    /// Bounded by the deposits of its leases, so below the token supply, below 2^96.
    // slither-disable-next-line uninitialized-state LeaseEscrow and LeaseEscrowDesk share this storage (delegatecall): the desk writes it, the escrow reads it; Slither analyses each contract alone
    mapping(address provider => uint96) internal _frozenOf;
    /// @dev Summed over a lease's checkpoints: the pay withheld because free stake could not lock the whole ruling
    /// reserve a period added, and the part of the reserve left unlocked (see LeasePayWithheld). Both are below the
    /// lease's deposit (< 2^96). Written on the checkpoint path only when stake falls short; appended like the above.
    struct Withheld {
        uint128 pay;
        uint128 unreserved;
    }
    mapping(uint256 leaseId => Withheld) internal _withheld;

    modifier onlyGuardian() {
        // slither-disable-next-line unused-return only the guardian is needed
        (, address guardian,) = _jobs.roles();
        if (msg.sender != guardian) revert Unauthorized(msg.sender, "guardian");
        _;
    }

    modifier onlyGuardianOrGovernance() {
        // slither-disable-next-line unused-return only the guardian is needed
        (, address guardian,) = _jobs.roles();
        if (msg.sender != guardian && msg.sender != governance()) revert Unauthorized(msg.sender, "guardian");
        _;
    }

    /// @dev What an upheld ruling on a lease that paid `upSeconds` at `rate` slashes: its ruling reserve, locked
    /// beside the collateral as its checkpoints land (issue 8, third review, finding 2).
    function _rulingReserve(uint256 upSeconds, uint256 rate, uint256 slashBps) internal pure returns (uint256) {
        // Safe from overflow: upSeconds < 2^32, rate < 2^72 and slashBps <= 10,000.
        return upSeconds * rate * slashBps / BPS;
    }

    /// @dev `provider`'s stake free for new locks: bonded less both escrows' locked stake and what both escrows'
    /// open disputes froze for their rulings.
    function _freeStake(address provider, uint256 bonded) internal view returns (uint256) {
        // slither-disable-next-line unused-return only the job escrow's locked and frozen amounts matter here
        (uint256 jobLocked,,, uint256 jobFrozen) = _jobs.unstakeBlockers(provider);
        uint256 held = uint256(_books[provider].locked) + _frozenOf[provider] + jobLocked + jobFrozen;
        return bonded > held ? bonded - held : 0;
    }

    /// @dev A slash took `slashed` from the stake backing this lease: the lease's locked collateral shrinks with it.
    function _drawCollateral(Settlement storage st, Book storage book, address provider, uint256 slashed) internal {
        uint256 collateral = st.collateral;
        uint256 drawn = slashed < collateral ? slashed : collateral;
        uint256 locked = book.locked;
        // Safe: drawn <= collateral <= book.locked (the lease's collateral is part of its provider's locked sum).
        unchecked {
            st.collateral = uint96(collateral - drawn);
            book.locked = uint96(locked - drawn);
        }
        _unflagIfEmptied(provider, locked, locked - drawn);
    }

    /// @dev The provider's locked sum went from `before` to `after_`: when it reached zero, the staking contract's
    /// flag is cleared, so the job escrow's settlement stops asking this escrow for it (acceptLease sets it).
    /// The flag stays while an open checkpoint dispute freezes some of the provider's stake (see disputeCheckpoint).
    function _unflagIfEmptied(address provider, uint256 before, uint256 after_) internal {
        if (before != 0 && after_ == 0 && _frozenOf[provider] == 0) _staking.flagLeaseCollateral(provider, false);
    }

    /// @dev What the client gets back when billing is over: everything not paid for up time.
    function _endRefund(uint256 leaseId, Meter memory m, uint256 upSeconds) internal view returns (uint256) {
        uint256 covered = uint256(m.paidThrough) - _settlements[leaseId].startedAt;
        // Safe: the down seconds of the covered period were taken from the deposit, so this is below the deposit.
        unchecked {
            return m.remaining + (covered - upSeconds) * m.rate;
        }
    }

    function _releaseGpus(uint256 leaseId) internal {
        Parties memory q = _parties[leaseId];
        _staking.releaseGpus(q.offerId, q.gpuCount);
    }

    /// @dev Hard caps: no caller, governance included, can go outside them.
    function _bounds(LeaseParameter param) internal view returns (uint256 min, uint256 max) {
        if (param == LeaseParameter.FeeBps) return (0, 1_000); // at most 10% of a payment
        if (param == LeaseParameter.CollateralSeconds) return (0, 30 days); // at most a month of the rate
        if (param == LeaseParameter.ExpirySlashBps || param == LeaseParameter.DisputeSlashBps) return (0, BPS);
        if (param == LeaseParameter.DisputeWindow) {
            // Disputes must close before unbonding stake can leave.
            uint256 unbonding = _staking.unbondingPeriod();
            return (1 hours, unbonding <= 30 days ? unbonding - 1 : 30 days);
        }
        if (param == LeaseParameter.AcceptWindow) return (1 minutes, 7 days);
        if (param == LeaseParameter.Grace) return (1 minutes, 7 days);
        return (0, 1_000_000 ether); // LeaseParameter.DisputeBond
    }

    /// @dev `index` is below PARAM_COUNT (checked by the callers).
    function _writeParam(ParamSet memory p, uint8 index, uint256 value) internal view {
        LeaseParameter param = LeaseParameter(index);
        (uint256 min, uint256 max) = _bounds(param);
        if (value < min || value > max) revert LeaseEscrowParameterOutOfRange(index, value, min, max);
        // Each value fits its field: every cap above is below the field's maximum.
        if (param == LeaseParameter.FeeBps) p.feeBps = uint16(value);
        else if (param == LeaseParameter.CollateralSeconds) p.collateralSeconds = uint32(value);
        else if (param == LeaseParameter.ExpirySlashBps) p.expirySlashBps = uint16(value);
        else if (param == LeaseParameter.DisputeSlashBps) p.disputeSlashBps = uint16(value);
        else if (param == LeaseParameter.DisputeWindow) p.disputeWindow = uint32(value);
        else if (param == LeaseParameter.AcceptWindow) p.acceptWindow = uint32(value);
        else if (param == LeaseParameter.Grace) p.grace = uint32(value);
        else p.disputeBond = uint80(value);
    }

    function _paramValues(ParamSet memory p) internal pure returns (uint256[PARAM_COUNT] memory v) {
        v[uint8(LeaseParameter.FeeBps)] = p.feeBps;
        v[uint8(LeaseParameter.CollateralSeconds)] = p.collateralSeconds;
        v[uint8(LeaseParameter.ExpirySlashBps)] = p.expirySlashBps;
        v[uint8(LeaseParameter.DisputeSlashBps)] = p.disputeSlashBps;
        v[uint8(LeaseParameter.DisputeWindow)] = p.disputeWindow;
        v[uint8(LeaseParameter.AcceptWindow)] = p.acceptWindow;
        v[uint8(LeaseParameter.Grace)] = p.grace;
        v[uint8(LeaseParameter.DisputeBond)] = p.disputeBond;
    }

    function _meterWithStatus(uint256 leaseId, LeaseStatus expected) internal view returns (Meter memory m) {
        m = _meters[leaseId];
        if (m.status != expected) _revertStatus(leaseId, m.status, expected);
    }

    function _revertStatus(uint256 leaseId, LeaseStatus status, LeaseStatus expected) internal pure {
        if (status == LeaseStatus.None) revert LeaseEscrowUnknownLease(leaseId);
        revert LeaseEscrowWrongStatus(leaseId, status, expected);
    }

    /// @dev paidThrough + the deposit no checkpoint covered, in whole seconds of the rate.
    function _runwayEnd(Meter memory m) internal pure returns (uint256) {
        return uint256(m.paidThrough) + m.remaining / m.rate;
    }

    /// @dev The first of the fixed end (end time, close, reclaim) and the runway end.
    function _billingEnd(Meter memory m) internal pure returns (uint256 end) {
        end = _runwayEnd(m);
        if (m.fixedEnd != 0 && m.fixedEnd < end) end = m.fixedEnd;
    }

    constructor(IERC20 token_, IProviderStaking staking_, IJobEscrow jobEscrow_, address governance)
        EIP712("gpusettle LeaseEscrow", "1")
        Governed(governance)
    {
        if (address(token_) == address(0) || address(staking_) == address(0) || address(jobEscrow_) == address(0)) {
            revert ZeroAddress();
        }
        // Deposits, collateral, earnings and fees are 96-bit fields (issue 8, lower finding 5): every token amount
        // must fit, which holds when the whole supply does (ComputeToken cannot mint after deployment).
        uint256 supply = token_.totalSupply();
        if (supply > type(uint96).max) revert LeaseEscrowSupplyTooLarge(supply, type(uint96).max);
        _token = token_;
        _staking = staking_;
        _jobs = jobEscrow_;
    }
}
