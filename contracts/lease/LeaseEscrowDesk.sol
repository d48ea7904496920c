// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IJobEscrow} from "../../interfaces/IJobEscrow.sol";
import {IProviderStaking} from "../../interfaces/IProviderStaking.sol";
import {LeaseEscrowBase} from "./LeaseEscrowBase.sol";

/// @title LeaseEscrowDesk
/// @notice The lease escrow's cold paths: expiry, collateral release, checkpoint disputes and rulings, fees,
/// parameters and pauses. LeaseEscrow creates one at deployment and runs it by delegatecall only, on LeaseEscrow's
/// own storage (the layout both inherit from LeaseEscrowBase), so that LeaseEscrow's code stays under the 24 KiB
/// limit.
contract LeaseEscrowDesk is LeaseEscrowBase {
    using SafeERC20 for IERC20;

    /// @dev Governance of the desk's own (unused) storage is the escrow, which never calls it but by delegatecall;
    /// a direct call finds no leases, no parameters and no tokens, so it can change nothing that matters.
    constructor(IERC20 token_, IProviderStaking staking_, IJobEscrow jobEscrow_)
        LeaseEscrowBase(token_, staking_, jobEscrow_, msg.sender)
    {}

    /// @notice See ILeaseEscrow.
    function claimLeaseExpiry(uint256 leaseId) external nonReentrant {
        Meter memory m = _meterWithStatus(leaseId, LeaseStatus.Running);
        Payee memory pay = _payees[leaseId];
        ParamSet memory p = _paramSets[m.paramSet];
        uint256 end = _billingEnd(m);
        // No checkpoint can land while checkpoints are paused: no expiry then, and after the pause each lease has a
        // whole grace for its final checkpoint. The pause ends by itself (MAX_SETTLEMENT_PAUSE).
        uint256 pauseEnds = _config.pauseEnds;
        if (block.timestamp < pauseEnds) revert LeaseEscrowSettlementPaused();
        // Nor while a checkpoint was disputed: after a rejected ruling the provider gets a whole grace to post the
        // final one, even when the billing end passed during the dispute.
        uint256 resumedAt = _resumedAt[leaseId];
        uint256 from = end > resumedAt ? end : resumedAt;
        uint256 claimableAt = (from > pauseEnds ? from : pauseEnds) + p.grace;
        if (block.timestamp < claimableAt) revert LeaseEscrowExpiryNotReached(leaseId, claimableAt, block.timestamp);
        uint256 refund = _endRefund(leaseId, m, pay.upSeconds);
        m.status = LeaseStatus.Ended;
        m.fixedEnd = uint32(end);
        m.remaining = 0;
        _meters[leaseId] = m;
        _releaseGpus(leaseId);
        Settlement storage st = _settlements[leaseId];
        Book storage book = _books[pay.provider];
        uint256 collateral = st.collateral;
        address client = _parties[leaseId].client;
        uint256 slashed = 0;
        // A billing end already paid through (a close at the last checkpoint's time, then a rejected dispute) left no
        // period for a final checkpoint: nothing was missed, nothing is slashed.
        uint256 amount = end > m.paidThrough ? collateral * p.expirySlashBps / BPS : 0;
        if (amount != 0) {
            slashed = _staking.slash(pay.provider, amount, client, book.locked - collateral);
            _drawCollateral(st, book, pay.provider, slashed);
        }
        emit LeaseExpired(leaseId, refund, slashed);
        if (refund != 0) _token.safeTransfer(client, refund);
    }

    /// @notice See ILeaseEscrow.
    function releaseLeaseCollateral(uint256[] calldata leaseIds) external nonReentrant returns (uint256 total) {
        uint256 released = 0;
        for (uint256 i = 0; i < leaseIds.length; ++i) {
            uint256 leaseId = leaseIds[i];
            uint256 paramSet = _meterWithStatus(leaseId, LeaseStatus.Ended).paramSet;
            Settlement storage st = _settlements[leaseId];
            if (st.collateralReleased) continue;
            Payee memory pay = _payees[leaseId];
            uint256 closesAt = pay.lastCheckpointAt == 0
                ? 0
                : uint256(pay.lastCheckpointAt) + _paramSets[paramSet].disputeWindow;
            if (block.timestamp <= closesAt) {
                revert LeaseEscrowCollateralStillNeeded(leaseId, closesAt, block.timestamp);
            }
            total += _unlockCollateral(leaseId, st, pay, paramSet);
            _releaseWithheld(leaseId, pay.provider, _withheld[leaseId].pay);
            ++released;
        }
        if (released == 0) revert LeaseEscrowNothingToClaim(msg.sender);
    }

    /// @dev Unlock the lease's collateral and its ruling reserve (what its checkpoints locked: the reserve less the
    /// part free stake could not lock), once.
    function _unlockCollateral(uint256 leaseId, Settlement storage st, Payee memory pay, uint256 paramSet)
        internal
        returns (uint256 amount)
    {
        if (st.collateralReleased) return 0;
        address provider = pay.provider;
        amount = uint256(st.collateral)
            + _rulingReserve(pay.upSeconds, _meters[leaseId].rate, _paramSets[paramSet].disputeSlashBps)
            - _withheld[leaseId].unreserved;
        st.collateralReleased = true;
        Book storage book = _books[provider];
        uint256 locked = book.locked;
        book.locked = uint96(locked - amount);
        emit LeaseCollateralReleased(leaseId, provider, amount);
        _unflagIfEmptied(provider, locked, locked - amount);
    }

    /// @dev The lease's withheld pay is settled: `amount` of it to `provider`'s earnings, the rest (if any) was
    /// taken by a ruling. Clears the record.
    function _releaseWithheld(uint256 leaseId, address provider, uint256 amount) private {
        Withheld memory w = _withheld[leaseId];
        if (w.pay == 0 && w.unreserved == 0) return;
        delete _withheld[leaseId];
        if (amount == 0) return;
        Book storage book = _books[provider];
        book.earnings = SafeCast.toUint96(uint256(book.earnings) + amount);
        emit LeaseWithheldPayReleased(leaseId, provider, amount);
    }

    /// @notice See ILeaseEscrow.
    function disputeCheckpoint(uint256 leaseId, bytes32 reasonHash) external nonReentrant {
        Meter memory m = _meters[leaseId];
        if (m.status != LeaseStatus.Running && m.status != LeaseStatus.Ended) {
            _revertStatus(leaseId, m.status, LeaseStatus.Running);
        }
        address client = _parties[leaseId].client;
        if (msg.sender != client) revert LeaseEscrowNotClient(leaseId, msg.sender, client);
        Payee memory pay = _payees[leaseId];
        if (pay.lastCheckpointAt == 0) revert LeaseEscrowNoCheckpoint(leaseId);
        ParamSet memory p = _paramSets[m.paramSet];
        uint256 closesAt = uint256(pay.lastCheckpointAt) + p.disputeWindow;
        if (block.timestamp > closesAt) revert LeaseEscrowDisputeWindowClosed(leaseId, closesAt, block.timestamp);
        // One dispute per checkpointed state: after a ruling or a lapse only a new checkpoint can be disputed.
        if (_disputes[leaseId].disputedThrough == m.paidThrough) {
            revert LeaseEscrowAlreadyDisputed(leaseId, m.paidThrough);
        }
        Settlement storage st = _settlements[leaseId];
        (st.disputeBond, st.endedBeforeDispute) = (p.disputeBond, m.status == LeaseStatus.Ended);
        m.status = LeaseStatus.Disputed;
        _meters[leaseId] = m;
        ++_books[pay.provider].openDisputes;
        // Freeze only what the ruling can slash beyond the collateral it unlocks first (issue 11): no checkpoint
        // lands while the lease is Disputed, so the slash is fixed now; the collateral is locked already, and only
        // the rest of the slash must stay in free stake (the ruling takes free stake first).
        uint256 frozen = _frozenBy(st, _withheld[leaseId], pay.upSeconds, m.rate, p.disputeSlashBps);
        // (Zero while the lease's collateral and ruling reserve are locked: the reserve is the slash itself.)
        // The arbiter rules on job and checkpoint disputes alike, with the job escrow's ruling period, read once
        // here so that a later change never moves an open dispute's deadline.
        uint256 deadline = block.timestamp + _jobs.rulingPeriod();
        // Safe: frozen is below what the lease paid, part of its deposit (< 2^96), and the provider's sum is bounded
        // by its leases' deposits, below the token supply (< 2^96); the deadline fits 32 bits (see the struct).
        _disputes[leaseId] = CheckpointDispute({
            frozen: uint96(frozen),
            rulingDeadline: uint32(deadline),
            disputedThrough: m.paidThrough
        });
        if (frozen != 0) {
            _frozenOf[pay.provider] += uint96(frozen);
            // The job escrow's settlement nets out this escrow's locked sum and freezes only while the flag is set:
            // a freeze with nothing locked (penalties drew the collateral, free stake locked none of the reserve)
            // must set it too, or a job's reserve raise could take the frozen stake.
            if (_books[pay.provider].locked == 0) _staking.flagLeaseCollateral(pay.provider, true);
        }
        emit CheckpointDisputed(leaseId, msg.sender, p.disputeBond, reasonHash, deadline);
        if (p.disputeBond != 0) _token.safeTransferFrom(msg.sender, address(this), p.disputeBond);
    }

    /// @dev What an upheld ruling can slash beyond the lease's collateral and reserve still locked (resolveCheckpoint-
    /// Dispute unlocks them into free stake before it slashes) and its withheld pay.
    function _frozenBy(Settlement storage st, Withheld memory w, uint256 upSeconds, uint256 rate, uint256 slashBps)
        private
        view
        returns (uint256)
    {
        uint256 slash = _rulingReserve(upSeconds, rate, slashBps);
        // unreserved <= slash: it sums parts of the reserve's increments, whose sum is the reserve itself.
        uint256 held = st.collateralReleased ? 0 : uint256(st.collateral) + slash - w.unreserved + w.pay;
        return slash > held ? slash - held : 0;
    }

    /// @dev End the lease's open dispute: what it froze goes back to unstakeable stake, and the provider has one
    /// open dispute less. A ruling must come by the ruling deadline, a lapse only after it.
    function _endDispute(uint256 leaseId, address provider, bool lapsing) private returns (uint256 frozen) {
        CheckpointDispute memory d = _disputes[leaseId];
        if (lapsing) {
            if (block.timestamp <= d.rulingDeadline) {
                revert LeaseEscrowRulingDeadlineNotReached(leaseId, d.rulingDeadline, block.timestamp);
            }
        } else if (block.timestamp > d.rulingDeadline) {
            revert LeaseEscrowRulingDeadlinePassed(leaseId, d.rulingDeadline, block.timestamp);
        }
        _disputes[leaseId] = CheckpointDispute({frozen: 0, rulingDeadline: 0, disputedThrough: d.disputedThrough});
        frozen = d.frozen;
        // Safe: this dispute added `frozen` to the sum and one to the count when it opened.
        --_books[provider].openDisputes;
        if (frozen != 0) {
            uint96 left = _frozenOf[provider] - uint96(frozen);
            _frozenOf[provider] = left;
            if (left == 0 && _books[provider].locked == 0) _staking.flagLeaseCollateral(provider, false);
        }
    }

    /// @dev A dispute ended without a slash (rejected or lapsed): the lease is as it was before it.
    function _resume(uint256 leaseId, Meter memory m, bool endedBefore) private {
        m.status = endedBefore ? LeaseStatus.Ended : LeaseStatus.Running;
        _meters[leaseId] = m;
        // Checkpoints resume now: the expiry's grace runs from here at the earliest (claimLeaseExpiry).
        if (!endedBefore) _resumedAt[leaseId] = block.timestamp;
    }

    /// @notice See ILeaseEscrow.
    function closeUnruledCheckpointDispute(uint256 leaseId) external nonReentrant {
        Meter memory m = _meterWithStatus(leaseId, LeaseStatus.Disputed);
        address provider = _payees[leaseId].provider;
        Settlement storage st = _settlements[leaseId];
        uint256 frozen = _endDispute(leaseId, provider, true);
        _resume(leaseId, m, st.endedBeforeDispute);
        // No ruling: nothing is slashed, and the bond goes back to the client (the arbiter, not the client, failed
        // to act).
        address client = _parties[leaseId].client;
        uint256 bond = st.disputeBond;
        emit CheckpointDisputeLapsed(leaseId, client, bond, frozen);
        if (bond != 0) _token.safeTransfer(client, bond);
    }

    /// @notice See ILeaseEscrow.
    function resolveCheckpointDispute(uint256 leaseId, bool upheld) external nonReentrant {
        // slither-disable-next-line unused-return only the arbiter and treasury are needed
        (,, address arbiter) = _jobs.roles();
        if (msg.sender != arbiter) revert Unauthorized(msg.sender, "arbiter");
        Meter memory m = _meterWithStatus(leaseId, LeaseStatus.Disputed);
        Payee memory pay = _payees[leaseId];
        Settlement storage st = _settlements[leaseId];
        uint256 bond = st.disputeBond;
        Book storage book = _books[pay.provider];
        _endDispute(leaseId, pay.provider, false);
        address client = _parties[leaseId].client;
        if (!upheld) {
            _resume(leaseId, m, st.endedBeforeDispute);
            emit CheckpointDisputeResolved(leaseId, false, 0, 0);
            if (bond != 0) _token.safeTransfer(pay.provider, bond);
            return;
        }
        if (!st.endedBeforeDispute) {
            // The ruling ends the lease at the last paid time; everything after it goes back to the client.
            m.fixedEnd = m.paidThrough;
            m.remaining = uint96(_endRefund(leaseId, m, pay.upSeconds));
            _releaseGpus(leaseId);
            emit LeaseEnded(leaseId, m.paidThrough, m.remaining);
        }
        m.status = LeaseStatus.Ended;
        _meters[leaseId] = m;
        // The lease's collateral and reserve go back to free stake first, where the slash reaches them.
        uint256 unlocked = _unlockCollateral(leaseId, st, pay, m.paramSet);
        // Safe from overflow: upSeconds < 2^32 and rate < 2^72.
        uint256 paid = uint256(pay.upSeconds) * m.rate;
        uint256 amount = paid * _paramSets[m.paramSet].disputeSlashBps / BPS;
        (uint256 slashed, uint256 leftover) =
            _slashForRuling(pay.provider, amount, unlocked, _withheld[leaseId].pay, book.locked);
        // Withheld pay the slash did not need was earned.
        _releaseWithheld(leaseId, pay.provider, leftover);
        uint256 compensation = slashed < paid ? slashed : paid;
        if (slashed != compensation) _config.accruedFees += SafeCast.toUint128(slashed - compensation);
        _staking.jail(pay.provider);
        emit CheckpointDisputeResolved(leaseId, true, slashed, compensation);
        if (compensation + bond != 0) _token.safeTransfer(client, compensation + bond);
    }

    /// @dev Slash `amount` into this contract for an upheld ruling: first what backs this lease alone, its collateral
    /// and reserve (`unlocked`, just put back into free stake), then its withheld pay (`withheld`, here already),
    /// then the provider's other free and unbonding stake; never what `keepLocked` holds for other work, nor, beyond
    /// what backs this lease, what the provider owes the job escrow's defrauded clients (their fraud debts).
    /// `leftover`: the withheld pay the ruling did not need.
    function _slashForRuling(address provider, uint256 amount, uint256 unlocked, uint256 withheld, uint256 keepLocked)
        private
        returns (uint256 slashed, uint256 leftover)
    {
        // slither-disable-next-line unused-return only the sum owed matters here
        (uint256 owed,) = _jobs.fraudDebtOf(provider);
        if (withheld == 0 && owed == 0) {
            return (amount == 0 ? 0 : _staking.slash(provider, amount, address(this), keepLocked), 0);
        }
        uint256 first = Math.min(amount, unlocked);
        if (first != 0) slashed = _staking.slash(provider, first, address(this), keepLocked);
        uint256 fromWithheld = Math.min(amount - slashed, withheld);
        // Safe: fromWithheld <= withheld, and slashed + fromWithheld <= amount.
        unchecked {
            leftover = withheld - fromWithheld;
            slashed += fromWithheld;
        }
        if (amount > slashed) slashed += _staking.slash(provider, amount - slashed, address(this), keepLocked + owed);
    }

    /// @notice See ILeaseEscrow.
    function withdrawFees() external nonReentrant returns (uint256 amount) {
        // slither-disable-next-line unused-return only the treasury receives fees
        (address treasury,,) = _jobs.roles();
        amount = _config.accruedFees;
        if (amount == 0) revert LeaseEscrowNothingToClaim(treasury);
        _config.accruedFees = 0;
        emit FeesWithdrawn(treasury, amount);
        _token.safeTransfer(treasury, amount);
    }

    /// @notice See ILeaseEscrow.
    function setParameter(uint8 param, uint256 value) external onlyGovernance {
        if (param >= PARAM_COUNT) revert LeaseEscrowParameterOutOfRange(param, value, 0, 0);
        Config memory cfg = _config;
        ParamSet memory p = _paramSets[cfg.paramSet];
        uint256 previous = _paramValues(p)[param];
        _writeParam(p, param, value);
        // A new numbered set: leases opened under the old one keep it.
        cfg.paramSet = SafeCast.toUint16(uint256(cfg.paramSet) + 1);
        cfg.acceptWindow = p.acceptWindow;
        _paramSets[cfg.paramSet] = p;
        _config = cfg;
        emit ParameterSet(param, previous, value);
    }

    /// @notice See ILeaseEscrow.
    function pause() external onlyGuardian {
        _config.openingPaused = true;
        emit OpeningPauseSet(true);
    }

    /// @notice See ILeaseEscrow.
    function unpause() external onlyGuardianOrGovernance {
        _config.openingPaused = false;
        emit OpeningPauseSet(false);
    }

    /// @notice See ILeaseEscrow.
    function pauseSettlement() external onlyGuardian {
        uint256 ended = _config.pauseEnds;
        // A pause already on is not extended; a new one waits out the cooldown, so expiries are delayed, not caused.
        if (ended != 0 && block.timestamp < ended + SETTLEMENT_PAUSE_COOLDOWN) {
            revert LeaseEscrowSettlementPauseCoolingDown(ended, ended + SETTLEMENT_PAUSE_COOLDOWN, block.timestamp);
        }
        uint256 endsAt = block.timestamp + MAX_SETTLEMENT_PAUSE;
        _config.pauseEnds = uint32(endsAt);
        emit SettlementPauseSet(true);
        emit SettlementPauseEnds(endsAt);
    }

    /// @notice See ILeaseEscrow.
    function unpauseSettlement() external onlyGuardianOrGovernance {
        // Ends the pause now; each running lease's grace for its final checkpoint runs from here.
        if (block.timestamp < _config.pauseEnds) _config.pauseEnds = uint32(block.timestamp);
        emit SettlementPauseSet(false);
        emit SettlementPauseEnds(_config.pauseEnds);
    }
}
