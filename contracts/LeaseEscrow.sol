// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IJobEscrow} from "../interfaces/IJobEscrow.sol";
import {ILeaseEscrow} from "../interfaces/ILeaseEscrow.sol";
import {IProviderStaking} from "../interfaces/IProviderStaking.sol";
import {LeaseEscrowBase} from "./lease/LeaseEscrowBase.sol";
import {LeaseEscrowDesk} from "./lease/LeaseEscrowDesk.sol";

/// @title LeaseEscrow
/// @notice See {ILeaseEscrow}.
/// @dev The storage layout and why it is so: LeaseEscrowBase. The cold paths live in LeaseEscrowDesk and run by
/// delegatecall on this contract's storage.
contract LeaseEscrow is ILeaseEscrow, LeaseEscrowBase {
    using SafeERC20 for IERC20;

    address private immutable _desk;

    /// @param params the initial parameters in setParameter's order, each checked against its cap
    constructor(IERC20 token_, IProviderStaking staking_, IJobEscrow jobEscrow_, address governance, uint256[8] memory params)
        LeaseEscrowBase(token_, staking_, jobEscrow_, governance)
    {
        _desk = address(new LeaseEscrowDesk(token_, staking_, jobEscrow_));
        // slither-disable-next-line uninitialized-local a memory struct starts zeroed; _writeParam sets every field below
        ParamSet memory p;
        for (uint8 i = 0; i < PARAM_COUNT; ++i) {
            _writeParam(p, i, params[i]);
        }
        _paramSets[1] = p;
        (_config.paramSet, _config.acceptWindow) = (1, p.acceptWindow);
    }

    // ----------------------------------------------------------------- opening

    /// @inheritdoc ILeaseEscrow
    function openLease(
        uint256 offerId,
        uint8 gpuCount,
        uint64 maxPricePerGpuSecond,
        uint8 maxClass,
        uint32 minNoticeSeconds,
        bytes32 specHash,
        uint256 deposit,
        uint64 endTime
    ) external nonReentrant returns (uint256 leaseId) {
        return _open(offerId, gpuCount, maxPricePerGpuSecond, maxClass, minNoticeSeconds, specHash, deposit, endTime);
    }

    /// @inheritdoc ILeaseEscrow
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
    ) external nonReentrant returns (uint256 leaseId) {
        // A permit someone front-ran has already set the allowance; the transfer below then still succeeds.
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), deposit, permitDeadline, v, r, s) {} catch {}
        return _open(offerId, gpuCount, maxPricePerGpuSecond, maxClass, minNoticeSeconds, specHash, deposit, endTime);
    }

    function _open(
        uint256 offerId,
        uint8 gpuCount,
        uint64 maxPrice,
        uint8 maxClass,
        uint32 minNotice,
        bytes32 specHash,
        uint256 deposit,
        uint64 endTime
    ) private returns (uint256 leaseId) {
        Config memory cfg = _config;
        if (cfg.openingPaused) revert LeaseEscrowOpeningPaused();
        if (maxClass > CLASS_INTERRUPTIBLE) revert LeaseEscrowInvalidMaxClass(maxClass);
        uint256 latest = block.timestamp + MAX_LEASE_DURATION;
        if (endTime != 0 && (endTime <= block.timestamp || endTime > latest)) {
            revert LeaseEscrowInvalidEndTime(endTime, block.timestamp, latest);
        }
        // Reverts if the offer is unknown, withdrawn or paused, or its provider has no worker key. A jailed or
        // under-staked provider is refused at acceptance, where collateral is locked.
        IProviderStaking.LeaseTerms memory t = _staking.leaseTerms(offerId);
        if (gpuCount == 0 || gpuCount > t.gpuCount || t.pricePerGpuSecond > maxPrice) {
            revert LeaseEscrowOfferNoLongerFits(offerId, gpuCount, t.gpuCount, maxPrice, t.pricePerGpuSecond);
        }
        if (t.availabilityClass > maxClass || (t.availabilityClass == CLASS_RECLAIMABLE && t.noticeSeconds < minNotice)) {
            revert LeaseEscrowClassNotAccepted(offerId, t.availabilityClass, t.noticeSeconds, maxClass, minNotice);
        }
        if (msg.sender == t.provider || msg.sender == t.worker) {
            revert LeaseEscrowSelfDealing(msg.sender, t.provider, t.worker);
        }
        // Safe from overflow: price < 2^64 and gpuCount < 2^8.
        uint256 rate = uint256(t.pricePerGpuSecond) * gpuCount;
        if (deposit < rate || deposit > type(uint96).max) revert LeaseEscrowInvalidDeposit(deposit, rate);
        // The lease holds gpuCount of the offer's GPUs until it ends (reverts when too few are free).
        _staking.reserveGpus(offerId, gpuCount);

        leaseId = ++_leaseCount;
        uint256 acceptBy = block.timestamp + cfg.acceptWindow;
        // Acceptance closes before the end time, so an accepted lease always has a second to bill.
        if (endTime != 0 && acceptBy >= endTime) acceptBy = endTime - 1;
        // Safe casts: deposit and rate were checked above; times are below 2^32 until 2106; offer ids below 2^48.
        _meters[leaseId] = Meter({
            remaining: uint96(deposit),
            paidThrough: uint32(acceptBy),
            fixedEnd: uint32(endTime),
            status: LeaseStatus.Open,
            rate: uint72(rate),
            paramSet: cfg.paramSet
        });
        _parties[leaseId] = Parties({
            client: msg.sender,
            availabilityClass: t.availabilityClass,
            noticeSeconds: t.noticeSeconds,
            offerId: SafeCast.toUint32(offerId),
            gpuCount: gpuCount,
            guaranteeBps: t.uptimeGuaranteeBps
        });
        _specHash[leaseId] = specHash;
        emit LeaseOpened(
            leaseId,
            msg.sender,
            t.provider,
            offerId,
            gpuCount,
            rate,
            deposit,
            endTime,
            acceptBy,
            t.availabilityClass,
            t.noticeSeconds,
            specHash
        );
        _token.safeTransferFrom(msg.sender, address(this), deposit);
    }

    /// @inheritdoc ILeaseEscrow
    function acceptLease(uint256 leaseId) external nonReentrant {
        if (_config.openingPaused) revert LeaseEscrowOpeningPaused();
        Meter memory m = _meterWithStatus(leaseId, LeaseStatus.Open);
        Parties memory q = _parties[leaseId];
        (address provider, address worker) = _offerProviderOrWorker(leaseId, q.offerId);
        address client = q.client;
        // The worker key may have been rotated to the client's wallet since the lease opened.
        if (client == worker) revert LeaseEscrowSelfDealing(client, provider, worker);
        if (block.timestamp > m.paidThrough) revert LeaseEscrowAcceptanceClosed(leaseId, m.paidThrough, block.timestamp);
        // slither-disable-next-line unused-return unbonding stake does not count toward the minimum or free stake
        (uint256 bonded,,, bool jailed) = _staking.stakeOf(provider);
        if (jailed) revert LeaseEscrowProviderJailed(provider);
        uint256 minimum = _staking.minStake();
        if (bonded < minimum) revert LeaseEscrowBelowMinimumStake(provider, bonded, minimum);
        // Safe from overflow: rate < 2^72 and collateralSeconds < 2^32.
        uint256 collateral = uint256(m.rate) * _paramSets[m.paramSet].collateralSeconds;
        Book storage book = _books[provider];
        uint256 locked = book.locked;
        // Free stake is bonded less both escrows' locked collateral and what both escrows' open disputes froze for
        // their rulings: new collateral must not lock it out of a ruling's reach.
        uint256 free = _freeStake(provider, bonded);
        if (collateral > free) revert LeaseEscrowInsufficientFreeStake(provider, free, collateral);
        // Safe: locked + collateral <= bonded < 2^96.
        book.locked = uint96(locked + collateral);

        m.status = LeaseStatus.Running;
        m.paidThrough = uint32(block.timestamp);
        _meters[leaseId] = m;
        _payees[leaseId] =
            Payee({provider: provider, upSeconds: 0, lastCheckpointAt: 0, guaranteeBps: q.guaranteeBps, shortReserve: false});
        _settlements[leaseId] = Settlement({
            collateral: uint96(collateral),
            startedAt: uint32(block.timestamp),
            endTime: m.fixedEnd,
            disputeBond: 0,
            endedBeforeDispute: false,
            collateralReleased: false
        });
        emit LeaseAccepted(leaseId, provider, block.timestamp, collateral);
        // The job escrow's settlement must count this collateral as taken: the flag tells it to ask for the sum.
        // Last, after every write (the staking contract is trusted, but nothing is left for a re-entry to see).
        if (locked == 0 && collateral != 0) _staking.flagLeaseCollateral(provider, true);
    }

    /// @inheritdoc ILeaseEscrow
    function declineLease(uint256 leaseId) external nonReentrant {
        Meter memory m = _meterWithStatus(leaseId, LeaseStatus.Open);
        _offerProviderOrWorker(leaseId, _parties[leaseId].offerId);
        _cancel(leaseId, m);
    }

    /// @inheritdoc ILeaseEscrow
    function cancelLease(uint256 leaseId) external nonReentrant {
        Meter memory m = _meterWithStatus(leaseId, LeaseStatus.Open);
        // Before the acceptance deadline only the client cancels (the provider declines); after it, anyone.
        if (block.timestamp <= m.paidThrough) {
            address client = _parties[leaseId].client;
            if (msg.sender != client) revert LeaseEscrowCancelNotAllowed(leaseId, msg.sender, m.paidThrough);
        }
        _cancel(leaseId, m);
    }

    function _cancel(uint256 leaseId, Meter memory m) private {
        m.status = LeaseStatus.Cancelled;
        _meters[leaseId] = m;
        Parties memory q = _parties[leaseId];
        _staking.releaseGpus(q.offerId, q.gpuCount);
        emit LeaseCancelled(leaseId, msg.sender, m.remaining);
        _token.safeTransfer(q.client, m.remaining);
    }

    // ------------------------------------------------------------------ running

    /// @inheritdoc ILeaseEscrow
    function topUp(uint256 leaseId, uint256 amount) external nonReentrant {
        if (amount == 0) revert LeaseEscrowZeroAmount();
        Meter memory m = _meters[leaseId];
        if (m.status == LeaseStatus.Running) {
            uint256 end = _billingEnd(m);
            if (end <= block.timestamp) revert LeaseEscrowBillingEnded(leaseId, end, block.timestamp);
        } else if (m.status != LeaseStatus.Open) {
            _revertStatus(leaseId, m.status, LeaseStatus.Running);
        }
        uint96 remaining = SafeCast.toUint96(uint256(m.remaining) + amount);
        m.remaining = remaining;
        _meters[leaseId] = m;
        emit LeaseToppedUp(leaseId, msg.sender, amount, remaining);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ILeaseEscrow
    /// @dev Guarded though it moves no tokens: a batch's penalty slash pays the client before the batch writes the
    /// lease back, so a close (or reclaim) re-entered from that transfer would be overwritten.
    function closeLease(uint256 leaseId) external nonReentrant {
        Meter memory m = _liveMeter(leaseId);
        address client = _parties[leaseId].client;
        if (msg.sender != client) revert LeaseEscrowNotClient(leaseId, msg.sender, client);
        _fixEnd(m, block.timestamp);
        uint256 end = _billingEnd(m);
        bool ended = _endIfPaidThrough(leaseId, m);
        _meters[leaseId] = m;
        emit LeaseClosed(leaseId, msg.sender, end);
        if (ended) _ended(leaseId, m);
    }

    /// @inheritdoc ILeaseEscrow
    function reclaimLease(uint256 leaseId) external nonReentrant {
        Meter memory m = _liveMeter(leaseId);
        _checkProviderOrWorker(leaseId, _payees[leaseId].provider);
        Parties memory q = _parties[leaseId];
        if (q.availabilityClass != CLASS_RECLAIMABLE && q.availabilityClass != CLASS_INTERRUPTIBLE) {
            revert LeaseEscrowNotReclaimable(leaseId, q.availabilityClass);
        }
        uint256 end = _billingEnd(m);
        if (end <= block.timestamp) revert LeaseEscrowBillingEnded(leaseId, end, block.timestamp);
        _fixEnd(m, block.timestamp + q.noticeSeconds);
        end = _billingEnd(m);
        bool ended = _endIfPaidThrough(leaseId, m);
        _meters[leaseId] = m;
        emit LeaseReclaimed(leaseId, end);
        if (ended) _ended(leaseId, m);
    }

    /// @dev A close or reclaim that fixes the billing end at the time already paid through (in the block of the
    /// acceptance or of a checkpoint, or a reclaim without notice) leaves no period a final checkpoint could cover:
    /// the lease ends here, as that checkpoint would have ended it. Left Running it could only expire, and the
    /// expiry would slash the provider for a checkpoint that cannot exist.
    function _endIfPaidThrough(uint256 leaseId, Meter memory m) private view returns (bool) {
        if (m.status != LeaseStatus.Running || _billingEnd(m) > m.paidThrough) return false;
        m.status = LeaseStatus.Ended;
        m.fixedEnd = m.paidThrough;
        m.remaining = uint96(_endRefund(leaseId, m, _payees[leaseId].upSeconds));
        return true;
    }

    function _ended(uint256 leaseId, Meter memory m) private {
        _releaseGpus(leaseId);
        emit LeaseEnded(leaseId, m.fixedEnd, m.remaining);
    }

    /// @dev A Running or Disputed lease's meter (a dispute does not stop the clock).
    function _liveMeter(uint256 leaseId) private view returns (Meter memory m) {
        m = _meters[leaseId];
        if (m.status != LeaseStatus.Running && m.status != LeaseStatus.Disputed) {
            _revertStatus(leaseId, m.status, LeaseStatus.Running);
        }
    }

    /// @dev Move the fixed billing end to `at` unless it is already earlier.
    function _fixEnd(Meter memory m, uint256 at) private pure {
        if (m.fixedEnd == 0 || at < m.fixedEnd) m.fixedEnd = SafeCast.toUint32(at);
    }

    // ------------------------------------------------------------- checkpoints

    // slither-disable-start reentrancy-no-eth nonReentrant; the only external calls in the loop go to the staking contract (slash, releaseGpus), after each checkpoint's own state is written
    /// @inheritdoc ILeaseEscrow
    function submitCheckpoints(Checkpoint[] calldata checkpoints, Signature[] calldata attestation)
        external
        nonReentrant
        returns (uint256 settled)
    {
        uint256 n = checkpoints.length;
        if (n == 0) revert LeaseEscrowEmptyBatch();
        Config memory cfg = _config;
        if (block.timestamp < cfg.pauseEnds) revert LeaseEscrowSettlementPaused();
        bytes32[] memory hashes = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            hashes[i] = _checkpointStructHash(checkpoints[i]);
        }
        bytes32 checkpointsHash;
        // The attested value is keccak256 over the packed struct hashes, which is exactly the array's body.
        assembly ("memory-safe") {
            checkpointsHash := keccak256(add(hashes, 0x20), mul(n, 0x20))
        }
        _verifyAttestation(checkpointsHash, attestation);
        Run memory run;
        for (uint256 i = 0; i < n; ++i) {
            if (_applyCheckpoint(checkpoints[i], run)) {
                // Safe: bounded by the calldata array length.
                unchecked {
                    ++settled;
                }
            }
        }
        _flush(run);
        if (run.fees != 0) {
            cfg = _config; // penalties do not touch the config, but re-read it: nothing stale is written back
            cfg.accruedFees = SafeCast.toUint128(cfg.accruedFees + run.fees);
            _config = cfg;
        }
    }

    // slither-disable-end reentrancy-no-eth

    function _checkpointStructHash(Checkpoint calldata c) private pure returns (bytes32 h) {
        bytes32 typehash = CHECKPOINT_TYPEHASH;
        // hashStruct = keccak256(typehash . the six fields as 32-byte words), which is the checkpoint's static
        // calldata encoding. Dirty high bits cannot slip through: every field is read (and so validated by the
        // ABI decoder) before the checkpoint can apply.
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), c, 0xc0)
            h := keccak256(ptr, 0xe0)
        }
    }

    /// @dev EIP-2098 compact recovery; zero for anything but a canonical low-s signature (as JobEscrow's).
    function _recover(bytes32 digest, Signature calldata sig) private view returns (address signer) {
        bytes32 r = sig.r;
        bytes32 vs = sig.vs;
        assembly ("memory-safe") {
            let s := and(vs, 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff)
            // s must be in the lower half of the curve order: the other half is the malleated twin.
            if iszero(gt(s, 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0)) {
                let ptr := mload(0x40)
                mstore(ptr, digest)
                mstore(add(ptr, 0x20), add(shr(255, vs), 27))
                mstore(add(ptr, 0x40), r)
                mstore(add(ptr, 0x60), s)
                mstore(0x00, 0)
                if staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20) { signer := mload(0x00) }
            }
        }
    }

    /// @dev The job escrow's oracle set attests checkpoints too: one set of keys, one epoch, one threshold.
    function _verifyAttestation(bytes32 checkpointsHash, Signature[] calldata sigs) private view {
        (address[] memory oracles, uint8 threshold, uint64 epoch) = _jobs.oracleSet();
        uint256 n = sigs.length;
        if (n < threshold) revert LeaseEscrowAttestationBelowThreshold(n, threshold);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(ATTESTATION_TYPEHASH, checkpointsHash, epoch)));
        address previous = address(0);
        for (uint256 i = 0; i < n; ++i) {
            address signer = _recover(digest, sigs[i]);
            if (signer == address(0)) revert LeaseEscrowMalformedSignature(i);
            // Strictly ascending signers: a repeated signature cannot count twice.
            if (signer <= previous) revert LeaseEscrowOracleSignersNotSorted(i, signer, previous);
            bool member = false;
            for (uint256 j = 0; j < oracles.length; ++j) {
                if (oracles[j] == signer) {
                    member = true;
                    break;
                }
            }
            if (!member) revert LeaseEscrowNotOracle(signer, epoch);
            previous = signer;
        }
    }

    /// @return settled false when the checkpoint was skipped (CheckpointSkipped says why)
    function _applyCheckpoint(Checkpoint calldata c, Run memory run) private returns (bool settled) {
        uint256 leaseId = c.leaseId;
        uint256 from = c.fromTime;
        uint256 to = c.toTime;
        uint256 up = c.upSeconds;
        if (to <= from || to > block.timestamp || up + c.downSeconds != to - from) {
            revert LeaseEscrowImpossibleCheckpoint(leaseId, from, to, up, c.downSeconds, block.timestamp);
        }
        Meter memory m = _meters[leaseId];
        if (m.status != LeaseStatus.Running) return _skip(leaseId, c.fromTime, SkipReason.NotRunning);
        if (from != m.paidThrough) return _skip(leaseId, c.fromTime, SkipReason.NotContiguous);
        uint256 end = _billingEnd(m);
        if (to > end) return _skip(leaseId, c.fromTime, SkipReason.PastBillingEnd);

        Payee memory pay = _payees[leaseId];
        if (pay.provider != run.provider) {
            _flush(run);
            run.provider = pay.provider;
            run.free = _runFree(pay.provider);
        }
        if (m.paramSet != run.paramSet) {
            ParamSet memory p = _paramSets[m.paramSet];
            (run.paramSet, run.feeBps, run.disputeWindow, run.disputeSlashBps) =
                (m.paramSet, p.feeBps, p.disputeWindow, p.disputeSlashBps);
        }
        uint256 rate = m.rate;
        // The ruling reserve grows with what the lease paid: the part this period adds is locked now, from free
        // stake, so that an upheld dispute finds it whatever the provider locks or drains before it opens. What free
        // stake cannot lock is held back from the period's pay instead: the checkpoint never waits for free stake,
        // which a stranger's unaccepted job can take, so that the lease cannot be made to expire that way.
        uint256 reserveAdded = _rulingReserve(pay.upSeconds + c.upSeconds, rate, run.disputeSlashBps)
            - _rulingReserve(pay.upSeconds, rate, run.disputeSlashBps);
        uint256 unreserved = 0;
        if (reserveAdded > run.free) (unreserved, reserveAdded) = (reserveAdded - run.free, run.free);
        if (unreserved != 0) {
            pay.shortReserve = true;
        } else if (pay.shortReserve && run.free > reserveAdded) {
            // A lease short of reserve from earlier checkpoints catches up from the free stake left after this
            // period's part; both are locked together below.
            uint256 caught;
            (caught, pay.shortReserve) = _catchUp(leaseId, pay.provider, run.free - reserveAdded, run);
            reserveAdded += caught;
        }
        uint256 paid;
        uint256 fee;
        // Safe: to <= the runway end, so (to - from) x rate <= remaining < 2^96; up <= to - from; fee <= paid; the
        // run's sums are bounded by deposits this contract holds; times are below 2^32.
        unchecked {
            m.remaining = uint96(m.remaining - (to - from) * rate);
            paid = up * rate;
            fee = paid * run.feeBps / BPS;
            run.earnings += paid - fee;
            run.fees += fee;
            uint256 until = block.timestamp + run.disputeWindow;
            if (until > run.disputableUntil) run.disputableUntil = until;
            pay.upSeconds = uint32(pay.upSeconds + up);
        }
        m.paidThrough = uint32(to);
        pay.lastCheckpointAt = uint32(block.timestamp);
        bool final_ = to == end;
        if (final_) {
            m.status = LeaseStatus.Ended;
            m.fixedEnd = uint32(to);
            m.remaining = uint96(_endRefund(leaseId, m, pay.upSeconds));
        }
        // The period is paid in storage before any external call (the penalty's slash pays the client in tokens).
        _meters[leaseId] = m;
        _payees[leaseId] = pay;
        if (unreserved != 0) _withhold(leaseId, pay.provider, unreserved, paid - fee, run);
        if (reserveAdded != 0) _lockReserve(pay.provider, reserveAdded, run);
        uint256 penalty = 0;
        // Uptime below the guarantee: the shortfall, priced at the rate, from the lease's collateral to the client.
        if (up * BPS < uint256(pay.guaranteeBps) * (to - from)) {
            penalty = _penalize(leaseId, pay.provider, ((uint256(pay.guaranteeBps) * (to - from) + BPS - 1) / BPS - up) * rate);
            // The penalty's slash may have taken free stake beyond the collateral: the run reads it again.
            if (penalty != 0) run.free = _runFree(pay.provider);
        }
        emit CheckpointSettled(leaseId, c.fromTime, c.toTime, c.upSeconds, c.downSeconds, paid - fee, fee, penalty);
        if (final_) {
            _releaseGpus(leaseId);
            emit LeaseEnded(leaseId, to, m.remaining);
        }
        return true;
    }

    /// @dev The provider's free stake at the start of its run of checkpoints.
    function _runFree(address provider) private view returns (uint256) {
        // slither-disable-next-line unused-return the worker key is not needed here
        (, uint256 bonded) = _staking.settlementView(provider);
        return _freeStake(provider, bonded);
    }

    /// @dev Lock `amount` more of `provider`'s stake as a lease's ruling reserve (the run checked it is free).
    function _lockReserve(address provider, uint256 amount, Run memory run) private {
        Book storage book = _books[provider];
        uint256 locked = book.locked;
        // Safe: amount <= run.free, so locked + amount <= bonded < 2^96.
        unchecked {
            run.free -= amount;
            book.locked = uint96(locked + amount);
        }
        // The job escrow's settlement asks for the lease escrow's locked sum only while this flag is set.
        if (locked == 0) _staking.flagLeaseCollateral(provider, true);
    }

    /// @dev Keep up to `unreserved` of the period's pay (`net`, the provider's part, already in the run's earnings)
    /// in this contract for the lease's ruling.
    function _withhold(uint256 leaseId, address provider, uint256 unreserved, uint256 net, Run memory run) private {
        uint256 amount = unreserved < net ? unreserved : net;
        Withheld memory w = _withheld[leaseId];
        // Safe: amount <= net, which this checkpoint added to the run's earnings; each sum is bounded by what the
        // lease paid, part of its deposit (< 2^96).
        unchecked {
            run.earnings -= amount;
            w.pay = uint128(w.pay + amount);
            w.unreserved = uint128(w.unreserved + unreserved);
        }
        _withheld[leaseId] = w;
        emit LeasePayWithheld(leaseId, provider, amount, unreserved);
    }

    /// @dev Take up to `free` of free stake for the lease's still unlocked reserve (`lockNow`, which the caller
    /// locks) and release the withheld pay beyond what stays unlocked to the provider: the shortfall lasts only as
    /// long as free stake does. `short`: some of the reserve is still unlocked.
    function _catchUp(uint256 leaseId, address provider, uint256 free, Run memory run)
        private
        returns (uint256 lockNow, bool short)
    {
        Withheld memory w = _withheld[leaseId];
        lockNow = free < w.unreserved ? free : w.unreserved;
        uint256 unreserved = w.unreserved - lockNow;
        // withheld pay <= unreserved holds at each withholding (pay <= min(unreserved, net)) and here.
        uint256 keep = w.pay < unreserved ? w.pay : unreserved;
        uint256 freed = w.pay - keep;
        short = unreserved != 0;
        if (!short) {
            delete _withheld[leaseId];
        } else {
            // Safe: both only shrink, from values that fit 128 bits.
            (w.pay, w.unreserved) = (uint128(keep), uint128(unreserved));
            _withheld[leaseId] = w;
        }
        if (freed != 0) {
            // Safe: freed is withheld pay, bounded by what the lease paid (< 2^96).
            unchecked {
                run.earnings += freed;
            }
            emit LeaseWithheldPayReleased(leaseId, provider, freed);
        }
    }

    function _skip(uint256 leaseId, uint64 fromTime, SkipReason reason) private returns (bool) {
        emit CheckpointSkipped(leaseId, fromTime, uint8(reason));
        return false;
    }

    /// @dev Slash up to `amount` of the lease's remaining collateral from `provider` to the client.
    function _penalize(uint256 leaseId, address provider, uint256 amount) private returns (uint256 slashed) {
        Settlement storage st = _settlements[leaseId];
        uint256 collateral = st.collateral;
        if (amount > collateral) amount = collateral;
        if (amount == 0) return 0;
        Book storage book = _books[provider];
        // The other leases' collateral stays; this lease's own backs the penalty.
        slashed = _staking.slash(provider, amount, _parties[leaseId].client, book.locked - collateral);
        _drawCollateral(st, book, provider, slashed);
    }

    /// @dev Writes what a run of checkpoints owes its provider.
    function _flush(Run memory run) private {
        if (run.provider == address(0)) return;
        Book storage b = _books[run.provider];
        Book memory book = b;
        book.earnings = SafeCast.toUint96(book.earnings + run.earnings);
        if (run.disputableUntil > book.disputableUntil) book.disputableUntil = SafeCast.toUint32(run.disputableUntil);
        _books[run.provider] = book;
        run.earnings = 0;
        run.disputableUntil = 0;
    }

    // ----------------------------------------------------------- after the end

    /// @inheritdoc ILeaseEscrow
    function claimRefund(uint256 leaseId) external nonReentrant returns (uint256 amount) {
        Meter memory m = _meterWithStatus(leaseId, LeaseStatus.Ended);
        amount = m.remaining;
        address client = _parties[leaseId].client;
        if (amount == 0) revert LeaseEscrowNothingToClaim(client);
        m.remaining = 0;
        _meters[leaseId] = m;
        emit LeaseRefundClaimed(leaseId, client, amount);
        _token.safeTransfer(client, amount);
    }

    /// @inheritdoc ILeaseEscrow
    function withdrawEarnings() external nonReentrant returns (uint256 amount) {
        Book storage b = _books[msg.sender];
        amount = b.earnings;
        if (amount == 0) revert LeaseEscrowNothingToClaim(msg.sender);
        b.earnings = 0;
        emit EarningsWithdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ helpers

    /// @dev The caller must be the provider of `offerId` or its current worker key; returns both.
    function _offerProviderOrWorker(uint256 leaseId, uint256 offerId) private view returns (address provider, address worker) {
        (provider, worker) = _staking.offerProvider(offerId);
        if (msg.sender != provider && msg.sender != worker) revert LeaseEscrowNotProviderOrWorker(leaseId, msg.sender);
    }

    /// @dev The caller must be `provider` or its current worker key; returns the worker key.
    function _checkProviderOrWorker(uint256 leaseId, address provider) private view returns (address worker) {
        worker = _staking.workerOf(provider);
        if (msg.sender != provider && msg.sender != worker) revert LeaseEscrowNotProviderOrWorker(leaseId, msg.sender);
    }

    /// @dev Everything the client deposited (Open and Running); after the end, what was paid plus what is refundable.
    function _depositOf(uint256 leaseId, Meter memory m) private view returns (uint256) {
        if (m.status == LeaseStatus.Open || m.status == LeaseStatus.Cancelled) return m.remaining;
        uint256 paid = uint256(_payees[leaseId].upSeconds) * m.rate;
        if (m.status == LeaseStatus.Ended || (m.status == LeaseStatus.Disputed && _settlements[leaseId].endedBeforeDispute)) {
            return paid + m.remaining;
        }
        return m.remaining + (uint256(m.paidThrough) - _settlements[leaseId].startedAt) * m.rate;
    }

    // ------------------------------------------------- run by LeaseEscrowDesk

    /// @dev Runs the same call on the desk, on this contract's storage, and returns or reverts with its result.
    function _toDesk() private {
        address desk = _desk;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), desk, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @inheritdoc ILeaseEscrow
    function claimLeaseExpiry(uint256) external {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function releaseLeaseCollateral(uint256[] calldata) external returns (uint256) {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function disputeCheckpoint(uint256, bytes32) external {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function resolveCheckpointDispute(uint256, bool) external {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function closeUnruledCheckpointDispute(uint256) external {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function withdrawFees() external returns (uint256) {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function setParameter(uint8, uint256) external {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function pause() external {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function unpause() external {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function pauseSettlement() external {
        _toDesk();
    }

    /// @inheritdoc ILeaseEscrow
    function unpauseSettlement() external {
        _toDesk();
    }

    // -------------------------------------------------------------------- views

    /// @inheritdoc ILeaseEscrow
    function getLease(uint256 leaseId) external view returns (LeaseView memory v) {
        Meter memory m = _meters[leaseId];
        if (m.status == LeaseStatus.None) revert LeaseEscrowUnknownLease(leaseId);
        Payee memory pay = _payees[leaseId];
        Parties memory q = _parties[leaseId];
        Settlement memory st = _settlements[leaseId];
        v.status = m.status;
        v.client = q.client;
        v.provider = pay.provider;
        // slither-disable-next-line unused-return before acceptance the provider is the offer's (it never changes)
        if (v.provider == address(0)) (v.provider,) = _staking.offerProvider(q.offerId);
        v.offerId = q.offerId;
        v.gpuCount = q.gpuCount;
        v.ratePerSecond = m.rate;
        v.pricePerGpuSecond = m.rate / q.gpuCount;
        v.deposit = _depositOf(leaseId, m);
        v.paid = uint256(pay.upSeconds) * m.rate;
        v.availabilityClass = q.availabilityClass;
        v.noticeSeconds = q.noticeSeconds;
        v.uptimeGuaranteeBps = q.guaranteeBps;
        v.specHash = _specHash[leaseId];
        v.upSeconds = pay.upSeconds;
        v.lastCheckpointAt = pay.lastCheckpointAt;
        v.disputeBond = st.disputeBond;
        v.collateralReleased = st.collateralReleased;
        if (m.status == LeaseStatus.Disputed) v.rulingDeadline = _disputes[leaseId].rulingDeadline;
        if (m.status == LeaseStatus.Open || m.status == LeaseStatus.Cancelled) {
            v.acceptBy = m.paidThrough;
            v.endTime = m.fixedEnd;
            return v;
        }
        v.paidThrough = m.paidThrough;
        v.startedAt = st.startedAt;
        v.endTime = st.endTime;
        v.collateral = st.collateralReleased ? 0 : st.collateral;
        v.downSeconds = uint256(m.paidThrough) - st.startedAt - pay.upSeconds;
        bool ended = m.status == LeaseStatus.Ended || (m.status == LeaseStatus.Disputed && st.endedBeforeDispute);
        if (ended) {
            v.billingEnd = m.fixedEnd;
            v.runwayEnd = m.fixedEnd;
            if (m.status == LeaseStatus.Ended) v.refundable = m.remaining;
        } else {
            v.runwayEnd = _runwayEnd(m);
            uint256 end = _billingEnd(m);
            if (m.fixedEnd != 0 || end <= block.timestamp) v.billingEnd = end;
        }
    }

    /// @inheritdoc ILeaseEscrow
    function leaseParameters(uint256 leaseId) external view returns (uint256[PARAM_COUNT] memory) {
        if (_meters[leaseId].status == LeaseStatus.None) revert LeaseEscrowUnknownLease(leaseId);
        return _paramValues(_paramSets[_meters[leaseId].paramSet]);
    }

    /// @inheritdoc ILeaseEscrow
    function runwayEnd(uint256 leaseId) external view returns (uint64) {
        Meter memory m = _meters[leaseId];
        if (m.status == LeaseStatus.None) revert LeaseEscrowUnknownLease(leaseId);
        if (m.status != LeaseStatus.Running && m.status != LeaseStatus.Disputed) return 0;
        if (m.status == LeaseStatus.Disputed && _settlements[leaseId].endedBeforeDispute) return 0;
        uint256 end = _runwayEnd(m);
        return end > type(uint64).max ? type(uint64).max : uint64(end);
    }

    /// @inheritdoc ILeaseEscrow
    function leaseCount() external view returns (uint256) {
        return _leaseCount;
    }

    /// @inheritdoc ILeaseEscrow
    function providerRecord(address provider) external view returns (LeaseProviderRecord memory r) {
        Book memory b = _books[provider];
        return LeaseProviderRecord(b.locked, b.earnings, b.openDisputes, b.disputableUntil);
    }

    /// @inheritdoc ILeaseEscrow
    function lockedCollateral(address provider) external view returns (uint256) {
        return _books[provider].locked;
    }

    /// @inheritdoc ILeaseEscrow
    function leaseWithheldPay(uint256 leaseId) external view returns (uint256 pay, uint256 unreserved) {
        Withheld memory w = _withheld[leaseId];
        return (w.pay, w.unreserved);
    }

    /// @inheritdoc ILeaseEscrow
    function unstakeBlockers(address provider)
        external
        view
        returns (uint256 locked, uint256 openDisputes, uint256 disputableUntil, uint256 frozen)
    {
        Book memory b = _books[provider];
        if (b.openDisputes != 0) frozen = _frozenOf[provider];
        return (b.locked, b.openDisputes, b.disputableUntil, frozen);
    }

    /// @inheritdoc ILeaseEscrow
    function disputeWindow() external view returns (uint256) {
        return _paramSets[_config.paramSet].disputeWindow;
    }

    /// @inheritdoc ILeaseEscrow
    function parameters() external view returns (uint256[PARAM_COUNT] memory) {
        return _paramValues(_paramSets[_config.paramSet]);
    }

    /// @inheritdoc ILeaseEscrow
    function pauseState() external view returns (bool openingPaused, bool settlementPaused) {
        Config memory cfg = _config;
        return (cfg.openingPaused, block.timestamp < cfg.pauseEnds);
    }

    /// @inheritdoc ILeaseEscrow
    function accruedFees() external view returns (uint256) {
        return _config.accruedFees;
    }

    /// @inheritdoc ILeaseEscrow
    function jobEscrow() external view returns (address) {
        return address(_jobs);
    }

    /// @inheritdoc ILeaseEscrow
    function staking() external view returns (address) {
        return address(_staking);
    }

    /// @inheritdoc ILeaseEscrow
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc ILeaseEscrow
    function checkpointDigest(Checkpoint calldata checkpoint) external view returns (bytes32) {
        return _hashTypedDataV4(_checkpointStructHash(checkpoint));
    }

    /// @inheritdoc ILeaseEscrow
    function attestationDigest(bytes32 checkpointsHash, uint64 epoch) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ATTESTATION_TYPEHASH, checkpointsHash, epoch)));
    }

    /// @inheritdoc ILeaseEscrow
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
}
