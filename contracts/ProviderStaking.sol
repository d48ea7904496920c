// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IProviderStaking} from "../interfaces/IProviderStaking.sol";
import {IJobEscrow} from "../interfaces/IJobEscrow.sol";
import {ILeaseEscrow} from "../interfaces/ILeaseEscrow.sol";
import {Governed} from "./utils/Governed.sol";

/// @title ProviderStaking
/// @notice See {IProviderStaking}.
contract ProviderStaking is IProviderStaking, Governed, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;


    /// @notice Hard caps: no governance call can go beyond them.
    uint256 public constant MAX_MIN_STAKE = 10_000_000 ether;
    uint256 public constant MIN_UNBONDING_PERIOD = 1 hours;
    uint256 public constant MAX_UNBONDING_PERIOD = 90 days;
    /// @notice The longest reclaim notice a reclaimable offer may give.
    uint256 public constant MAX_NOTICE_SECONDS = 30 days;
    uint256 internal constant BPS = 10_000;
    uint8 internal constant CLASS_DEDICATED = 0;
    uint8 internal constant CLASS_RECLAIMABLE = 1;
    uint8 internal constant CLASS_INTERRUPTIBLE = 2;

    /// @dev One slot per provider: 96 + 96 + 40 + 8 + 8 bits. 2^96 base units exceeds any fixed supply we mint.
    /// `leaseLocked`: the lease escrow holds collateral for this provider (flagLeaseCollateral). It shares the slot
    /// settlement reads for `bonded`, so settlement learns for free whether it must ask the lease escrow.
    struct StakeSlot {
        uint96 bonded;
        uint96 unbonding;
        uint40 releaseAt;
        bool jailed;
        bool leaseLocked;
    }

    /// @dev Read on every settlement, so the worker key shares a slot with the slash total.
    struct WorkerSlot {
        address worker;
        uint96 totalSlashed;
    }

    IERC20 private immutable _token;
    address private _escrow;
    uint256 private _minStake;
    uint256 private _unbondingPeriod;
    uint256 private _offerCount;

    mapping(address provider => StakeSlot) private _stakes;
    mapping(address provider => WorkerSlot) private _workers;
    mapping(uint256 offerId => Offer) private _offers;
    /// @dev Keys a provider replaced as its worker key: that provider never names them again, so rotation voids their
    /// receipts for good. Per provider: a global list let anyone retire the key a provider was about to rotate to.
    mapping(address provider => mapping(address worker => bool)) private _retiredWorkers;
    /// @dev The second escrow (issue 11), declared after the first release's state so the layout only grows.
    address private _leaseEscrow;

    constructor(IERC20 token_, address governance, uint256 minStake_, uint256 unbondingPeriod_) Governed(governance) {
        if (address(token_) == address(0)) revert ZeroAddress();
        // Stakes, unbonding sums and slash totals are 96-bit fields, and the unbonding addition is unchecked: every
        // amount must fit, which holds when the whole supply does (ComputeToken cannot mint after deployment).
        uint256 supply = token_.totalSupply();
        if (supply > type(uint96).max) revert ProviderStakingSupplyTooLarge(supply, type(uint96).max);
        _token = token_;
        _setParameter(uint8(StakingParameter.MinStake), minStake_);
        _setParameter(uint8(StakingParameter.UnbondingPeriod), unbondingPeriod_);
    }

    modifier onlyEscrow() {
        // msg.sender is never the zero address, so an escrow not named yet matches nobody.
        if (msg.sender != _escrow && msg.sender != _leaseEscrow) revert Unauthorized(msg.sender, "escrow");
        _;
    }

    // ---------------------------------------------------------------- staking

    /// @inheritdoc IProviderStaking
    function stake(uint256 amount) external nonReentrant {
        _stake(amount);
    }

    /// @inheritdoc IProviderStaking
    function stakeWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external nonReentrant {
        // A permit front-run by someone else still leaves the allowance in place: go on if it suffices.
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _stake(amount);
    }

    function _stake(uint256 amount) private {
        if (amount == 0) revert ProviderStakingZeroAmount();
        StakeSlot storage s = _stakes[msg.sender];
        uint96 bonded = (uint256(s.bonded) + amount).toUint96();
        s.bonded = bonded;
        emit Staked(msg.sender, amount, bonded);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IProviderStaking
    function requestUnstake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ProviderStakingZeroAmount();
        StakeSlot storage s = _stakes[msg.sender];
        (uint256 locked,, uint256 frozen) = _blockers(msg.sender);
        uint256 bonded = s.bonded;
        // An open job or lease dispute keeps only what its ruling can slash (beyond its locked reserve or
        // collateral) in free stake.
        locked += frozen;
        uint256 free = bonded > locked ? bonded - locked : 0;
        if (amount > free) revert ProviderStakingInsufficientFreeStake(msg.sender, free, amount);
        // Safe: amount <= free <= bonded, and unbonding + amount <= total stake < 2^96.
        unchecked {
            s.bonded = uint96(bonded - amount);
            s.unbonding = uint96(uint256(s.unbonding) + amount);
        }
        uint40 releaseAt = (block.timestamp + _unbondingPeriod).toUint40();
        s.releaseAt = releaseAt;
        emit UnstakeRequested(msg.sender, amount, s.unbonding, releaseAt);
    }

    /// @inheritdoc IProviderStaking
    function withdraw() external nonReentrant {
        StakeSlot storage s = _stakes[msg.sender];
        uint256 amount = s.unbonding;
        if (amount == 0) revert ProviderStakingNothingToWithdraw(msg.sender);
        if (block.timestamp < s.releaseAt) revert ProviderStakingStillUnbonding(msg.sender, s.releaseAt, block.timestamp);
        (uint256 locked, uint256 disputableUntil, uint256 frozen) = _blockers(msg.sender);
        if (frozen != 0) {
            // The rulings take free stake before unbonding stake: this stake may leave once the free stake alone
            // covers what the open job and lease disputes can still slash.
            uint256 bonded = _stakes[msg.sender].bonded;
            uint256 free = bonded > locked ? bonded - locked : 0;
            if (free < frozen) revert ProviderStakingDisputeFrozen(msg.sender, frozen, free);
        }
        // A job settled while this stake was unbonding may still be disputed; its slash must find the stake.
        if (block.timestamp <= disputableUntil) {
            revert ProviderStakingDisputeWindowOpen(msg.sender, disputableUntil, block.timestamp);
        }
        s.unbonding = 0;
        s.releaseAt = 0;
        emit Withdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @dev Both escrows' blockers: locked summed, the later disputable time, and what both escrows' open disputes
    /// freeze, summed (only that much is held back; an open dispute blocks nothing else, issue 11).
    function _blockers(address provider)
        private
        view
        returns (uint256 locked, uint256 disputableUntil, uint256 frozen)
    {
        address escrow_ = _escrow;
        // slither-disable-next-line unused-return the count of open job disputes is informational; `frozen` rules
        if (escrow_ != address(0)) (locked,, disputableUntil, frozen) = IJobEscrow(escrow_).unstakeBlockers(provider);
        address lease = _leaseEscrow;
        if (lease != address(0)) {
            // slither-disable-next-line unused-return the count of open lease disputes is informational too
            (uint256 l,, uint256 u, uint256 f) = ILeaseEscrow(lease).unstakeBlockers(provider);
            locked += l;
            frozen += f;
            if (u > disputableUntil) disputableUntil = u;
        }
    }

    /// @inheritdoc IProviderStaking
    function setWorker(address worker) external {
        if (worker == address(0)) revert ZeroAddress();
        if (_retiredWorkers[msg.sender][worker]) revert ProviderStakingWorkerRetired(worker);
        WorkerSlot storage w = _workers[msg.sender];
        address previous = w.worker;
        if (previous != address(0) && previous != worker) _retiredWorkers[msg.sender][previous] = true;
        w.worker = worker;
        emit WorkerSet(msg.sender, previous, worker);
    }

    // ----------------------------------------------------------------- offers

    /// @inheritdoc IProviderStaking
    function addOffer(
        string calldata gpuModel,
        uint8 gpuCount,
        uint32 vramGb,
        uint64 pricePerGpuSecond,
        string calldata metadataURI
    ) external returns (uint256 offerId) {
        _checkOfferTerms(gpuCount, pricePerGpuSecond);
        uint256 bonded = _stakes[msg.sender].bonded;
        if (bonded < _minStake) revert ProviderStakingBelowMinimum(msg.sender, bonded, _minStake);
        offerId = ++_offerCount;
        _offers[offerId] = Offer({
            provider: msg.sender,
            pricePerGpuSecond: pricePerGpuSecond,
            gpuCount: gpuCount,
            vramGb: vramGb,
            active: true,
            gpuModel: gpuModel,
            metadataURI: metadataURI,
            availabilityClass: CLASS_DEDICATED,
            noticeSeconds: 0,
            uptimeGuaranteeBps: 0,
            paused: false,
            reservedGpus: 0
        });
        emit OfferAdded(offerId, msg.sender, gpuModel, gpuCount, vramGb, pricePerGpuSecond, metadataURI);
    }

    /// @inheritdoc IProviderStaking
    function updateOffer(uint256 offerId, uint8 gpuCount, uint32 vramGb, uint64 pricePerGpuSecond, string calldata metadataURI)
        external
    {
        Offer storage o = _ownedActiveOffer(offerId);
        _checkOfferTerms(gpuCount, pricePerGpuSecond);
        // Running jobs and leases hold their GPUs: the count may not drop below them.
        if (gpuCount < o.reservedGpus) revert ProviderStakingGpusReserved(offerId, gpuCount, o.reservedGpus);
        // The VRAM describes the hardware a client reads before it opens a job; it only ever goes up (other hardware
        // is another offer), so an update front-running createJob cannot sell less memory than the client saw.
        if (vramGb < o.vramGb) revert ProviderStakingVramLowered(offerId, o.vramGb, vramGb);
        o.gpuCount = gpuCount;
        o.vramGb = vramGb;
        o.pricePerGpuSecond = pricePerGpuSecond;
        o.metadataURI = metadataURI;
        emit OfferUpdated(offerId, gpuCount, vramGb, pricePerGpuSecond, metadataURI);
    }

    /// @inheritdoc IProviderStaking
    function withdrawOffer(uint256 offerId) external {
        Offer storage o = _ownedActiveOffer(offerId);
        o.active = false;
        // Paused too: new work then reads one slot (paused) to know an offer takes none; see _checkNewWork.
        o.paused = true;
        emit OfferWithdrawn(offerId);
    }

    // ------------------------------------------------- capacity (issue 11)

    /// @inheritdoc IProviderStaking
    function setOfferAvailability(
        uint256 offerId,
        uint8 availabilityClass,
        uint32 noticeSeconds,
        uint16 uptimeGuaranteeBps
    ) external {
        Offer storage o = _ownedActiveOffer(offerId);
        if (availabilityClass == CLASS_DEDICATED) {
            noticeSeconds = 0; // a dedicated offer is never reclaimed: its notice means nothing
        }
        bool bad = availabilityClass > CLASS_INTERRUPTIBLE || uptimeGuaranteeBps > BPS
            || (availabilityClass == CLASS_RECLAIMABLE && (noticeSeconds == 0 || noticeSeconds > MAX_NOTICE_SECONDS))
            || (availabilityClass == CLASS_INTERRUPTIBLE && (noticeSeconds != 0 || uptimeGuaranteeBps != 0));
        if (bad) revert ProviderStakingInvalidAvailability(availabilityClass, noticeSeconds, uptimeGuaranteeBps);
        (o.availabilityClass, o.noticeSeconds, o.uptimeGuaranteeBps) =
            (availabilityClass, noticeSeconds, uptimeGuaranteeBps);
        emit OfferAvailabilitySet(offerId, availabilityClass, noticeSeconds, uptimeGuaranteeBps);
    }

    /// @inheritdoc IProviderStaking
    function pauseOffer(uint256 offerId) external {
        Offer storage o = _offerOfProviderOrWorker(offerId);
        if (o.paused) revert ProviderStakingOfferPaused(offerId);
        o.paused = true;
        emit OfferPaused(offerId);
    }

    /// @inheritdoc IProviderStaking
    function resumeOffer(uint256 offerId) external {
        Offer storage o = _offerOfProviderOrWorker(offerId);
        if (!o.paused) revert ProviderStakingOfferNotPaused(offerId);
        o.paused = false;
        emit OfferResumed(offerId);
    }

    function _offerOfProviderOrWorker(uint256 offerId) private view returns (Offer storage o) {
        o = _offers[offerId];
        address provider = o.provider;
        if (provider == address(0)) revert ProviderStakingUnknownOffer(offerId);
        if (msg.sender != provider && msg.sender != _workers[provider].worker) {
            revert ProviderStakingNotOfferOwnerOrWorker(offerId, msg.sender, provider);
        }
        if (!o.active) revert ProviderStakingOfferInactive(offerId);
    }

    /// @inheritdoc IProviderStaking
    function reserveGpus(uint256 offerId, uint8 count) external onlyEscrow {
        Offer storage o = _offers[offerId];
        if (o.provider == address(0)) revert ProviderStakingUnknownOffer(offerId);
        _checkOpen(offerId, o);
        uint256 reserved = o.reservedGpus;
        if (count == 0 || reserved + count > o.gpuCount) {
            revert ProviderStakingCapacityExceeded(offerId, count, reserved, o.gpuCount);
        }
        // Safe: reserved + count <= gpuCount < 2^8.
        uint8 next = uint8(reserved + count);
        o.reservedGpus = next;
        emit GpusReserved(offerId, msg.sender, count, next);
    }

    /// @inheritdoc IProviderStaking
    function releaseGpus(uint256 offerId, uint8 count) external onlyEscrow {
        Offer storage o = _offers[offerId];
        uint8 reserved = o.reservedGpus;
        if (count > reserved) revert ProviderStakingReleaseExceedsReserved(offerId, count, reserved);
        // Safe: count <= reserved, checked above.
        unchecked {
            reserved -= count;
        }
        o.reservedGpus = reserved;
        emit GpusReleased(offerId, msg.sender, count, reserved);
    }

    // ------------------------------------------------------------------------

    function _ownedActiveOffer(uint256 offerId) private view returns (Offer storage o) {
        o = _offers[offerId];
        if (o.provider == address(0)) revert ProviderStakingUnknownOffer(offerId);
        if (o.provider != msg.sender) revert ProviderStakingNotOfferOwner(offerId, msg.sender, o.provider);
        if (!o.active) revert ProviderStakingOfferInactive(offerId);
    }

    function _checkOfferTerms(uint8 gpuCount, uint64 price) private pure {
        if (gpuCount == 0) revert ProviderStakingInvalidGpuCount(gpuCount);
        if (price == 0) revert ProviderStakingInvalidPrice(price, type(uint64).max);
    }

    // ------------------------------------------------------- escrow & jailing

    /// @inheritdoc IProviderStaking
    function slash(address provider, uint256 amount, address recipient, uint256 keepBonded)
        external
        onlyEscrow
        nonReentrant
        returns (uint256 slashed)
    {
        if (recipient == address(0)) revert ZeroAddress();
        StakeSlot storage s = _stakes[provider];
        uint256 bonded = s.bonded;
        uint256 unbonding = s.unbonding;
        // The other escrow's locked collateral backs its clients' work: not this slash's to take either.
        keepBonded += _otherLocked(provider);
        // Free bonded stake first, then unbonding: a provider that asked to leave is still liable. The collateral of
        // the provider's other work (keepBonded) is not this slash's to take.
        uint256 slashable = bonded > keepBonded ? bonded - keepBonded : 0;
        uint256 fromBonded = amount < slashable ? amount : slashable;
        uint256 rest = amount - fromBonded;
        uint256 fromUnbonding = rest < unbonding ? rest : unbonding;
        slashed = fromBonded + fromUnbonding;
        if (slashed == 0) return 0;
        // Safe: each part is at most the balance it is taken from; the slash total is bounded by all stake ever made.
        unchecked {
            s.bonded = uint96(bonded - fromBonded);
            s.unbonding = uint96(unbonding - fromUnbonding);
        }
        WorkerSlot storage w = _workers[provider];
        w.totalSlashed = (uint256(w.totalSlashed) + slashed).toUint96();
        emit Slashed(provider, amount, slashed, recipient);
        _token.safeTransfer(recipient, slashed);
    }

    /// @dev What the escrow that is not the caller holds locked for `provider`.
    function _otherLocked(address provider) private view returns (uint256) {
        if (msg.sender == _escrow) {
            address lease = _leaseEscrow;
            return lease == address(0) ? 0 : ILeaseEscrow(lease).lockedCollateral(provider);
        }
        address jobs = _escrow;
        if (jobs == address(0)) return 0;
        // slither-disable-next-line unused-return only the locked collateral matters here
        (uint256 locked,,,) = IJobEscrow(jobs).unstakeBlockers(provider);
        return locked;
    }

    /// @inheritdoc IProviderStaking
    function jail(address provider) external {
        if (msg.sender != _escrow && msg.sender != _leaseEscrow && msg.sender != governance()) {
            revert Unauthorized(msg.sender, "escrowOrGovernance");
        }
        StakeSlot storage s = _stakes[provider];
        if (s.jailed) return;
        s.jailed = true;
        emit Jailed(provider);
    }

    /// @inheritdoc IProviderStaking
    function unjail(address provider) external onlyGovernance {
        StakeSlot storage s = _stakes[provider];
        if (!s.jailed) revert ProviderStakingNotJailed(provider);
        s.jailed = false;
        emit Unjailed(provider);
    }

    // ------------------------------------------------------------- governance

    /// @inheritdoc IProviderStaking
    function setEscrow(address escrow_) external onlyGovernance {
        if (escrow_ == address(0)) revert ZeroAddress();
        if (_escrow != address(0)) revert ProviderStakingEscrowAlreadySet(_escrow);
        // The unbonding period set before the escrow existed must still outlast the escrow's dispute window.
        uint256 window = IJobEscrow(escrow_).disputeWindow();
        if (_unbondingPeriod <= window) {
            revert ProviderStakingParameterOutOfRange(
                uint8(StakingParameter.UnbondingPeriod), _unbondingPeriod, window + 1, MAX_UNBONDING_PERIOD
            );
        }
        _escrow = escrow_;
        emit EscrowSet(escrow_);
    }

    /// @inheritdoc IProviderStaking
    function setLeaseEscrow(address leaseEscrow_) external onlyGovernance {
        if (leaseEscrow_ == address(0)) revert ZeroAddress();
        if (_leaseEscrow != address(0)) revert ProviderStakingEscrowAlreadySet(_leaseEscrow);
        uint256 window = ILeaseEscrow(leaseEscrow_).disputeWindow();
        if (_unbondingPeriod <= window) {
            revert ProviderStakingParameterOutOfRange(
                uint8(StakingParameter.UnbondingPeriod), _unbondingPeriod, window + 1, MAX_UNBONDING_PERIOD
            );
        }
        _leaseEscrow = leaseEscrow_;
        emit LeaseEscrowSet(leaseEscrow_);
    }

    /// @inheritdoc IProviderStaking
    function setParameter(uint8 param, uint256 value) external onlyGovernance {
        _setParameter(param, value);
    }

    function _setParameter(uint8 param, uint256 value) private {
        if (param > uint8(type(StakingParameter).max)) revert ProviderStakingParameterOutOfRange(param, value, 0, 0);
        uint256 previous;
        if (StakingParameter(param) == StakingParameter.MinStake) {
            if (value > MAX_MIN_STAKE) revert ProviderStakingParameterOutOfRange(param, value, 0, MAX_MIN_STAKE);
            previous = _minStake;
            _minStake = value;
        } else {
            // The unbonding period must outlast the escrow's dispute window, or a provider could leave
            // with its stake before a dispute against it is even raised.
            uint256 lowest = MIN_UNBONDING_PERIOD;
            if (_escrow != address(0)) {
                uint256 window = IJobEscrow(_escrow).disputeWindow();
                if (window + 1 > lowest) lowest = window + 1;
            }
            if (_leaseEscrow != address(0)) {
                uint256 window = ILeaseEscrow(_leaseEscrow).disputeWindow();
                if (window + 1 > lowest) lowest = window + 1;
            }
            if (value < lowest || value > MAX_UNBONDING_PERIOD) {
                revert ProviderStakingParameterOutOfRange(param, value, lowest, MAX_UNBONDING_PERIOD);
            }
            previous = _unbondingPeriod;
            _unbondingPeriod = value;
        }
        emit ParameterSet(param, previous, value);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IProviderStaking
    function stakeOf(address provider)
        external
        view
        returns (uint256 bonded, uint256 unbonding, uint256 releaseAt, bool jailed)
    {
        StakeSlot memory s = _stakes[provider];
        return (s.bonded, s.unbonding, s.releaseAt, s.jailed);
    }

    /// @inheritdoc IProviderStaking
    function workerOf(address provider) external view returns (address) {
        return _workers[provider].worker;
    }

    /// @inheritdoc IProviderStaking
    function settlementView(address provider) external view returns (address worker, uint256 bonded) {
        return (_workers[provider].worker, _stakes[provider].bonded);
    }

    /// @inheritdoc IProviderStaking
    function settlementContext(address provider) external view returns (address worker, uint256 bonded) {
        StakeSlot storage s = _stakes[provider];
        bonded = s.bonded;
        if (s.leaseLocked) {
            // The lease escrow's locked collateral and its open disputes' freeze: neither is free for a job's raised
            // dispute reserve (a lease's freeze exists only while its collateral is locked, so the flag covers it).
            uint256 leases = _heldBy(_leaseEscrow, provider);
            // Safe: the check only guards the subtraction.
            unchecked {
                bonded = bonded > leases ? bonded - leases : 0;
            }
        }
        worker = _workers[provider].worker;
    }

    /// @inheritdoc IProviderStaking
    function flagLeaseCollateral(address provider, bool locked) external {
        // msg.sender is never the zero address, so before the lease escrow is named this matches nobody.
        if (msg.sender != _leaseEscrow) revert Unauthorized(msg.sender, "leaseEscrow");
        StakeSlot storage s = _stakes[provider];
        if (s.leaseLocked == locked) return;
        s.leaseLocked = locked;
        emit LeaseCollateralFlagged(provider, locked);
    }

    /// @inheritdoc IProviderStaking
    function totalSlashedOf(address provider) external view returns (uint256) {
        return _workers[provider].totalSlashed;
    }

    /// @inheritdoc IProviderStaking
    function offer(uint256 offerId) external view returns (Offer memory) {
        Offer memory o = _offers[offerId];
        if (o.provider == address(0)) revert ProviderStakingUnknownOffer(offerId);
        return o;
    }

    /// @inheritdoc IProviderStaking
    function offerCount() external view returns (uint256) {
        return _offerCount;
    }

    /// @inheritdoc IProviderStaking
    function jobTerms(uint256 offerId) external view returns (JobTerms memory terms) {
        Offer storage o = _offers[offerId];
        address provider = o.provider;
        if (provider == address(0)) revert ProviderStakingUnknownOffer(offerId);
        _checkOpen(offerId, o);
        StakeSlot memory s = _stakes[provider];
        if (s.jailed) revert ProviderStakingJailed(provider);
        if (s.bonded < _minStake) revert ProviderStakingBelowMinimum(provider, s.bonded, _minStake);
        address worker = _workerOf(provider);
        address lease = _leaseEscrow;
        terms = JobTerms({
            provider: provider,
            pricePerGpuSecond: o.pricePerGpuSecond,
            gpuCount: o.gpuCount,
            bonded: s.bonded,
            worker: worker,
            leaseHeld: lease == address(0) ? 0 : _heldBy(lease, provider)
        });
    }

    /// @dev The lease escrow's locked collateral plus its open disputes' freeze for `provider`.
    function _heldBy(address lease, address provider) private view returns (uint256) {
        // slither-disable-next-line unused-return only the locked and frozen amounts count here
        (uint256 locked,,, uint256 frozen) = ILeaseEscrow(lease).unstakeBlockers(provider);
        return locked + frozen;
    }

    /// @dev Whether `o` takes new work. A withdrawn offer is paused too, so the paused flag (in the slot the
    /// capacity fields share) answers alone; the active flag only picks the error.
    function _checkOpen(uint256 offerId, Offer storage o) private view {
        if (o.paused) {
            if (!o.active) revert ProviderStakingOfferInactive(offerId);
            revert ProviderStakingOfferPaused(offerId);
        }
    }

    function _workerOf(address provider) private view returns (address worker) {
        worker = _workers[provider].worker;
        if (worker == address(0)) revert ProviderStakingNoWorker(provider);
    }

    /// @inheritdoc IProviderStaking
    function offerProvider(uint256 offerId) external view returns (address provider, address worker) {
        provider = _offers[offerId].provider;
        if (provider == address(0)) revert ProviderStakingUnknownOffer(offerId);
        worker = _workers[provider].worker;
    }

    /// @inheritdoc IProviderStaking
    function leaseTerms(uint256 offerId) external view returns (LeaseTerms memory terms) {
        Offer storage o = _offers[offerId];
        address provider = o.provider;
        if (provider == address(0)) revert ProviderStakingUnknownOffer(offerId);
        _checkOpen(offerId, o);
        address worker = _workerOf(provider);
        terms = LeaseTerms({
            provider: provider,
            pricePerGpuSecond: o.pricePerGpuSecond,
            gpuCount: o.gpuCount,
            freeGpus: o.gpuCount - o.reservedGpus,
            availabilityClass: o.availabilityClass,
            noticeSeconds: o.noticeSeconds,
            uptimeGuaranteeBps: o.uptimeGuaranteeBps,
            worker: worker
        });
    }

    /// @inheritdoc IProviderStaking
    function freeGpus(uint256 offerId) external view returns (uint256) {
        Offer storage o = _offers[offerId];
        if (o.provider == address(0)) revert ProviderStakingUnknownOffer(offerId);
        return o.gpuCount - o.reservedGpus;
    }

    /// @inheritdoc IProviderStaking
    function lockedCollateral(address provider) external view returns (uint256 jobs, uint256 leases) {
        // slither-disable-next-line unused-return only the locked collateral is asked for
        if (_escrow != address(0)) (jobs,,,) = IJobEscrow(_escrow).unstakeBlockers(provider);
        if (_leaseEscrow != address(0)) leases = ILeaseEscrow(_leaseEscrow).lockedCollateral(provider);
    }

    /// @inheritdoc IProviderStaking
    function minStake() external view returns (uint256) {
        return _minStake;
    }

    /// @inheritdoc IProviderStaking
    function unbondingPeriod() external view returns (uint256) {
        return _unbondingPeriod;
    }

    /// @inheritdoc IProviderStaking
    function escrow() external view returns (address) {
        return _escrow;
    }

    /// @inheritdoc IProviderStaking
    function leaseEscrow() external view returns (address) {
        return _leaseEscrow;
    }

    /// @inheritdoc IProviderStaking
    function token() external view returns (address) {
        return address(_token);
    }
}
