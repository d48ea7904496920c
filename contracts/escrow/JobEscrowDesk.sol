// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IProviderStaking} from "../../interfaces/IProviderStaking.sol";
import {JobEscrowBase} from "./JobEscrowBase.sol";
import {JobCore, JobTermsSlot} from "./JobSlots.sol";

/// @title JobEscrowDesk
/// @notice The job escrow's cold paths: timeouts, held slashes, refunds, disputes and rulings, fees and
/// governance. JobEscrow creates one at deployment and runs it by delegatecall only, on JobEscrow's own storage
/// (the layout both inherit from JobEscrowBase), so that JobEscrow's code stays under the 24 KiB limit without
/// giving up gas on the settlement path.
contract JobEscrowDesk is JobEscrowBase {
    using SafeERC20 for IERC20;

    /// @dev Governance of the desk's own (unused) storage is the escrow, which never calls it but by delegatecall;
    /// a direct call finds no jobs, no roles and no tokens, so it can change nothing that matters.
    constructor(IERC20 token_, IProviderStaking staking_) JobEscrowBase(token_, staking_, msg.sender) {}

    /// @notice Run once, by JobEscrow's constructor (by delegatecall, on its storage): the roles, the first eight
    /// parameters (each checked against its cap), the defaults of the others, the first fee terms and the oracle set.
    /// @dev An escrow with an oracle set is initialized; JobEscrow has no function that forwards here afterwards, and
    /// a direct call on the desk sets only the desk's own unused storage.
    function initialize(
        address treasury_,
        address guardian,
        address arbiter,
        address[] calldata oracles,
        uint8 threshold,
        uint256[8] calldata params
    ) external {
        if (_oracles.length != 0) revert Unauthorized(msg.sender, "constructor");
        _setRole(uint8(Role.Treasury), treasury_);
        _setRole(uint8(Role.Guardian), guardian);
        _setRole(uint8(Role.Arbiter), arbiter);
        for (uint8 i = 0; i < 8; ++i) {
            _setParameter(i, params[i]);
        }
        _setParameter(uint8(JobParameter.MinRunTime), DEFAULT_MIN_RUN_TIME);
        _setParameter(uint8(JobParameter.RulingPeriod), DEFAULT_RULING_PERIOD);
        _feeTerms.push(FeeTerms({feeBps: _config.feeBps, timeoutGrace: _config.timeoutGrace, since: 0}));
        _setOracleSet(oracles, threshold);
    }

    /// @notice See IJobEscrow.
    // slither-disable-next-line reentrancy-no-eth the only cross-function re-entry Slither names is settleFailedProvider, which reverts unless JobEscrow's guard is entered (settlement's delegatecall)
    function claimTimeout(uint256 jobId) external nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Running);
        SettleConfig memory cfg = _config;
        // The settlement pause stops the timeout clock: work done and attested must not time out because it could
        // not settle. The pause ends by itself (MAX_SETTLEMENT_PAUSE), so this delays timeouts, never blocks them.
        if (block.timestamp < cfg.pauseEnds) revert JobEscrowSettlementPaused();
        // The grace is the job's own: the one in force when it was accepted (c.stamp while Running).
        (, uint256 grace) = _jobFeeTerms(c.stamp, cfg);
        uint256 claimableAt = Math.max(c.limit, cfg.pauseEnds) + grace;
        if (block.timestamp < claimableAt) revert JobEscrowTimeoutNotReached(jobId, claimableAt, block.timestamp);
        JobTermsSlot memory t = _jobTerms[jobId];
        c.status = JobStatus.TimedOut;
        _storeCore(jobId, c);
        uint256 deposit = uint256(t.price) * t.maxGpuSeconds;
        uint256 collateral = _collateral(deposit, c.collateralBps);
        _books[t.provider].locked -= uint96(collateral);
        _releaseJobGpus(jobId, c.gpuCount);
        ProviderStats storage st = _stats[t.provider];
        ++st.timedOut;
        // The other jobs' collateral is out of reach; this job's own, just unlocked, covers the slash.
        uint256 slashed = _timeoutSlash(
            jobId, t.provider, c.client, collateral, _books[t.provider].locked,
            _disputableUntil(t.provider, st.lastSettledAt)
        );
        _tokensOut(deposit);
        emit JobTimedOut(jobId, deposit, slashed);
        _token.safeTransfer(c.client, deposit);
    }

    /// @notice Run by JobEscrow's settlement alone (by delegatecall, inside its reentrancy guard), for a FailedProvider
    /// receipt it has checked like any other (issue 8, lower finding 7): the provider pays what its silence would have
    /// cost it. The job settles with nothing paid (JobSettled, outcome 2, as before: its reserve the collateral); that
    /// whole collateral is unlocked at once, as a timeout unlocks it (CollateralReleased: no dispute reserve, a ruling
    /// has nothing paid to give back, so releaseCollateral skips the job); and its timeout slash is taken as claimTimeout takes it (_timeoutSlash), held for the client while a
    /// dispute against the provider is open or one of its settled jobs, this one excepted, can still be disputed. The
    /// settlement run was flushed before, so the provider's books and last settlement in storage are current. Its
    /// GPUs stay reserved like any settled job's (releaseJobGpus).
    /// @dev Only inside a guarded call: JobEscrow's settlement (a call on the desk itself, or one re-entering
    /// JobEscrow, which has no such function, cannot reach it there; on the desk it would find no running job anyway).
    function settleFailedProvider(uint256 jobId) external {
        if (!_reentrancyGuardEntered()) revert Unauthorized(msg.sender, "settlement");
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Running);
        JobTermsSlot memory t = _jobTerms[jobId];
        uint256 collateral = _collateral(uint256(t.price) * t.maxGpuSeconds, c.collateralBps);
        c.status = JobStatus.Settled;
        c.stamp = 0; // billed GPU-seconds
        c.limit = uint32(block.timestamp); // settled at
        _storeCore(jobId, c);
        _jobMeta[jobId].reserveReleased = true;
        _books[t.provider].locked -= uint96(collateral);
        // The events a settlement that kept the collateral as its reserve and a release of it would give, so readers
        // of the log (the index, the CLI's reserves) need nothing new.
        emit JobSettled(jobId, 0, 0, 0, uint8(Outcome.FailedProvider), collateral);
        emit CollateralReleased(jobId, t.provider, collateral);
        ProviderStats storage st = _stats[t.provider];
        uint256 slashed = _timeoutSlash(
            jobId, t.provider, c.client, collateral, _books[t.provider].locked,
            _disputableUntil(t.provider, st.lastSettledAt)
        );
        // What the settlement run records for a receipt that paid nothing: the provider's failure, and its latest
        // settlement (its unbonded stake waits for this job's dispute window like any other's).
        ++st.failed;
        st.lastSettledAt = uint32(block.timestamp);
        emit FailedProviderSlashed(jobId, t.provider, slashed);
    }

    /// @notice See IJobEscrow.
    function claimHeldSlash(uint256 jobId) external nonReentrant returns (uint256 amount) {
        JobCore memory c = _jobCore[jobId];
        // A held slash is a timed-out job's, or a job's that a FailedProvider receipt settled (and may since have been
        // disputed): its claim is what says whether there is one.
        if (c.status != JobStatus.TimedOut && !_isSettled(c.status)) _revertStatus(jobId, c.status, JobStatus.TimedOut);
        HeldClaim memory claim = _heldClaims[jobId];
        if (claim.amount == 0) revert JobEscrowNothingToClaim(c.client);
        address provider = _jobTerms[jobId].provider;
        if (claim.epoch == _holds[provider].epoch) {
            // The hold is released lazily, by the first claim after its windows closed with no dispute open, or after
            // the rulings it was held for could have come (a dispute opened later, on a later settlement, cannot keep
            // a timed-out client waiting: outside review of 2026-12-02, round 3).
            uint256 open = _disputesOpen(_stats[provider].openDisputes, _fraudDebts[provider].owed);
            if (open != 0 && block.timestamp <= _ledgers[provider].holdDeadline) {
                revert JobEscrowDisputesOpen(provider, open);
            }
            uint256 until = _holds[provider].until;
            if (block.timestamp <= until) revert JobEscrowHoldNotReleased(jobId, until, block.timestamp);
            _releaseHold(provider);
        }
        Hold memory rel = _released[provider][claim.epoch];
        // Pro rata: every client of the hold bears the rulings' draw alike. Rounds down; the dust stays here.
        amount = uint256(claim.amount) * rel.held / rel.claims;
        delete _heldClaims[jobId];
        _heldReleased[provider] -= amount;
        _tokensOut(amount);
        emit HeldSlashClaimed(jobId, c.client, amount);
        if (amount != 0) _token.safeTransfer(c.client, amount);
    }

    /// @dev Once no dispute against `provider` is open and the windows the hold covers have closed, what the rulings
    /// left of the hold goes to the clients.
    function _releaseHold(address provider) internal {
        Hold memory h = _holds[provider];
        if (h.claims == 0 || block.timestamp <= h.until) return;
        _released[provider][h.epoch] = h;
        _heldReleased[provider] += h.held;
        emit HeldSlashReleased(provider, h.epoch, h.held, h.claims);
        _holds[provider] = Hold({held: 0, claims: 0, epoch: h.epoch + 1, until: 0});
        _ledgers[provider].holdDeadline = 0;
    }

    /// @notice See IJobEscrow.
    // slither-disable-next-line reentrancy-no-eth the only cross-function re-entry Slither names is settleFailedProvider, which reverts unless JobEscrow's guard is entered (settlement's delegatecall)
    function releaseCollateral(uint256[] calldata jobIds) external nonReentrant returns (uint256 total) {
        uint256 withheld = 0;
        for (uint256 i = 0; i < jobIds.length; ++i) {
            uint256 jobId = jobIds[i];
            JobCore memory c = _coreWithStatus(jobId, JobStatus.Settled);
            JobMeta memory m = _jobMeta[jobId];
            if (m.reserveReleased) continue;
            uint256 closesAt = uint256(c.limit) + m.disputeWindow;
            if (block.timestamp <= closesAt) revert JobEscrowReserveStillNeeded(jobId, closesAt, block.timestamp);
            JobTermsSlot memory t = _jobTerms[jobId];
            total += _releaseReserve(jobId, t.provider, t.price, m.originalMaxGpuSeconds, c);
            withheld += _releaseWithheld(jobId, t.provider);
            _releaseJobGpus(jobId, c.gpuCount);
        }
        // A job without collateral has no reserve to release, but may have withheld pay.
        if (total == 0 && withheld == 0) revert JobEscrowNothingToClaim(msg.sender);
    }

    /// @notice See IJobEscrow.
    function releaseJobGpus(uint256[] calldata jobIds) external nonReentrant returns (uint256 released) {
        for (uint256 i = 0; i < jobIds.length; ++i) {
            uint256 jobId = jobIds[i];
            JobCore memory c = _jobCore[jobId];
            // Only settlement leaves GPUs reserved after the job ended; every other end released them already.
            if (!_isSettled(c.status)) continue;
            if (_releaseJobGpus(jobId, c.gpuCount)) {
                // Safe: bounded by the calldata array length.
                unchecked {
                    ++released;
                }
            }
        }
        if (released == 0) revert JobEscrowNothingToClaim(msg.sender);
    }

    /// @dev Unlock a settled job's dispute reserve (its collateral, or what it paid if raised at settlement), once.
    function _releaseReserve(uint256 jobId, address provider, uint256 price, uint256 maxGpuSeconds, JobCore memory c)
        internal
        returns (uint256 amount)
    {
        JobMeta storage m = _jobMeta[jobId];
        if (m.reserveReleased) return 0;
        m.reserveReleased = true;
        amount = _reserveOf(jobId, c.collateralBps, price * maxGpuSeconds, uint256(c.stamp) * price);
        _books[provider].locked -= uint96(amount);
        emit CollateralReleased(jobId, provider, amount);
    }

    /// @dev A settled job's withheld pay, if any, to its provider's earnings, once (the window closed, or no ruling
    /// took it).
    function _releaseWithheld(uint256 jobId, address provider) internal returns (uint256 amount) {
        amount = uint128(_withheld[jobId]);
        if (amount == 0) return 0;
        delete _withheld[jobId];
        _creditWithheld(jobId, provider, amount);
    }

    /// @dev Credit withheld pay as settlement credits a payout: the provider's earnings and the value it was paid.
    function _creditWithheld(uint256 jobId, address provider, uint256 amount) private {
        ProviderBook storage b = _books[provider];
        b.earnings = SafeCast.toUint96(uint256(b.earnings) + amount);
        ProviderStats storage s = _stats[provider];
        s.valuePaid = uint96(Math.min(uint256(s.valuePaid) + amount, type(uint96).max));
        emit WithheldPayReleased(jobId, provider, amount);
    }

    /// @notice See IJobEscrow.
    function claimRefunds(uint256[] calldata jobIds) external nonReentrant returns (uint256 total) {
        for (uint256 i = 0; i < jobIds.length; ++i) {
            uint256 jobId = jobIds[i];
            JobCore memory c = _jobCore[jobId];
            if (!_isSettled(c.status)) _revertStatus(jobId, c.status, JobStatus.Settled);
            JobTermsSlot storage t = _jobTerms[jobId];
            uint256 refund = uint256(t.maxGpuSeconds - c.stamp) * t.price;
            if (refund == 0) continue;
            t.maxGpuSeconds = c.stamp;
            total += refund;
            _tokensOut(refund);
            emit RefundClaimed(jobId, c.client, refund);
            _token.safeTransfer(c.client, refund);
        }
        if (total == 0) revert JobEscrowNothingToClaim(msg.sender);
    }

    /// @notice See IJobEscrow.
    function dispute(uint256 jobId, bytes32 reasonHash) external nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Settled);
        if (msg.sender != c.client) revert JobEscrowNotClient(jobId, msg.sender, c.client);
        JobMeta storage m = _jobMeta[jobId];
        uint256 closesAt = uint256(c.limit) + m.disputeWindow;
        if (block.timestamp > closesAt) revert JobEscrowDisputeWindowClosed(jobId, closesAt, block.timestamp);
        c.status = JobStatus.Disputed;
        _storeCore(jobId, c);
        Params memory p = _params;
        // Safe: the bond's cap (10^24) is below 2^80.
        m.disputeBond = uint80(p.disputeBond);
        JobTermsSlot memory t = _jobTerms[jobId];
        ++_stats[t.provider].openDisputes;
        // Freeze only what the ruling can slash: the job's reserve is locked already; the rest of the slash stays in
        // free stake (the ruling takes free stake first), so only that part is kept from unstaking.
        uint256 frozen = _frozenBy(jobId, t, c, m);
        // Safe: the ruling deadline fits 32 bits until 2106 (the period is capped at 60 days); the slash is at most a
        // deposit, < 2^96, and the frozen sum is bounded by the stake the open disputes can slash.
        uint256 deadline = block.timestamp + p.rulingPeriod;
        _disputes[jobId] = DisputeTerms({rulingDeadline: uint32(deadline), frozen: uint96(frozen)});
        ProviderLedger storage l = _ledgers[t.provider];
        if (frozen != 0) l.disputeFrozen += uint96(frozen);
        if (deadline > l.latestRulingDeadline) l.latestRulingDeadline = uint32(deadline);
        _tokensIn(p.disputeBond);
        emit JobDisputed(jobId, msg.sender, p.disputeBond, reasonHash);
        emit DisputeFrozen(jobId, t.provider, deadline, frozen);
        if (p.disputeBond != 0) _token.safeTransferFrom(msg.sender, address(this), p.disputeBond);
    }

    /// @dev What a ruling on the job can slash beyond the job's reserve, which stays locked until the ruling.
    function _frozenBy(uint256 jobId, JobTermsSlot memory t, JobCore memory c, JobMeta storage m)
        private
        view
        returns (uint256)
    {
        uint256 deposit = uint256(t.price) * m.originalMaxGpuSeconds;
        uint256 slash = deposit * m.disputeSlashBps / BPS;
        uint256 reserve =
            m.reserveReleased ? 0 : _reserveOf(jobId, c.collateralBps, deposit, uint256(c.stamp) * t.price);
        return slash > reserve ? slash - reserve : 0;
    }

    /// @dev End an open dispute's freeze, returning what it froze. A ruling must come by the ruling deadline, a lapse
    /// only after it.
    function _endDispute(uint256 jobId, address provider, bool lapsing) private returns (uint256 frozen) {
        DisputeTerms memory d = _disputes[jobId];
        if (lapsing) {
            if (block.timestamp <= d.rulingDeadline) {
                revert JobEscrowRulingDeadlineNotReached(jobId, d.rulingDeadline, block.timestamp);
            }
        } else if (block.timestamp > d.rulingDeadline) {
            revert JobEscrowRulingDeadlinePassed(jobId, d.rulingDeadline, block.timestamp);
        }
        frozen = d.frozen;
        // Safe: this dispute added `frozen` to the sum when it opened.
        if (frozen != 0) _ledgers[provider].disputeFrozen -= uint96(frozen);
    }

    /// @notice See IJobEscrow.
    function closeUnruledDispute(uint256 jobId) external nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Disputed);
        JobTermsSlot memory t = _jobTerms[jobId];
        JobMeta memory m = _jobMeta[jobId];
        uint256 frozen = _endDispute(jobId, t.provider, true);
        uint256 stillOpen = --_stats[t.provider].openDisputes;
        c.status = JobStatus.DisputeLapsed;
        _storeCore(jobId, c);
        // No ruling: the reserve goes back to free stake, as after a rejection, but the bond goes back to the client
        // (the arbiter, not the client, failed to act).
        _releaseReserve(jobId, t.provider, t.price, m.originalMaxGpuSeconds, c);
        _releaseWithheld(jobId, t.provider);
        if (stillOpen == 0) _releaseHold(t.provider);
        _releaseJobGpus(jobId, c.gpuCount);
        _tokensOut(m.disputeBond);
        emit DisputeLapsed(jobId, c.client, m.disputeBond, frozen);
        if (m.disputeBond != 0) _token.safeTransfer(c.client, m.disputeBond);
    }

    /// @notice See IJobEscrow.
    // slither-disable-next-line reentrancy-no-eth the only cross-function re-entry Slither names is settleFailedProvider, which reverts unless JobEscrow's guard is entered (settlement's delegatecall)
    function resolveDispute(uint256 jobId, bool upheld) external onlyArbiter nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Disputed);
        JobTermsSlot memory t = _jobTerms[jobId];
        JobMeta memory m = _jobMeta[jobId];
        uint256 bond = m.disputeBond;
        ProviderStats storage s = _stats[t.provider];
        _endDispute(jobId, t.provider, false);
        uint256 stillOpen = --s.openDisputes;
        // The ruling ends the job's dispute reserve: back to free stake, where an upheld slash takes it first.
        uint256 reserve = _releaseReserve(jobId, t.provider, t.price, m.originalMaxGpuSeconds, c);
        _releaseJobGpus(jobId, c.gpuCount);
        if (!upheld) {
            c.status = JobStatus.DisputeRejected;
            _storeCore(jobId, c);
            _releaseWithheld(jobId, t.provider);
            if (stillOpen == 0) _releaseHold(t.provider);
            _tokensOut(bond);
            emit DisputeResolved(jobId, false, 0, 0);
            if (bond != 0) _token.safeTransfer(t.provider, bond);
            return;
        }
        c.status = JobStatus.DisputeUpheld;
        _storeCore(jobId, c);
        ++_ledgers[t.provider].disputesLost;
        // The slash is sized by the job (its deposit); the client is made whole for what it paid, and never gets less
        // than the provider's silence would have given it (the job's timeout slash): a provider that settles a run
        // it never did as the client's failure (FailedClient, nothing paid) does not dodge the timeout slash that
        // way. A FailedProvider settlement paid that slash already, and released its collateral then: a disputed job's
        // reserve is released before its ruling only there. The rest of the slash goes to the treasury.
        uint256 paid = uint256(c.stamp) * t.price;
        uint256 deposit = uint256(t.price) * m.originalMaxGpuSeconds;
        uint256 floor = m.reserveReleased
            ? 0
            : _collateral(deposit, c.collateralBps & (RESERVE_RAISED - 1)) * m.timeoutSlashBps / BPS;
        uint256 withheld = uint128(_withheld[jobId]);
        if (withheld != 0) delete _withheld[jobId];
        (uint256 slashed, uint256 compensation, uint256 leftover) = _penalize(
            t.provider, deposit * m.disputeSlashBps / BPS, paid > floor ? paid : floor, withheld, reserve, true
        );
        // The ruling took what it needed of the withheld pay: the rest was earned as any payout the stake covers.
        if (leftover != 0) _creditWithheld(jobId, t.provider, leftover);
        if (stillOpen == 0) _releaseHold(t.provider);
        _tokensOut(compensation + bond);
        emit DisputeResolved(jobId, true, slashed, compensation);
        if (compensation + bond != 0) _token.safeTransfer(c.client, compensation + bond);
    }

    /// @notice See IJobEscrow.
    // slither-disable-next-line reentrancy-no-eth the only cross-function re-entry Slither names is settleFailedProvider, which reverts unless JobEscrow's guard is entered (settlement's delegatecall)
    function reportFraud(uint256 jobId, bytes32 evidenceHash) external onlyArbiter nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Running);
        JobTermsSlot memory t = _jobTerms[jobId];
        c.status = JobStatus.Fraud;
        _storeCore(jobId, c);
        uint256 deposit = uint256(t.price) * t.maxGpuSeconds;
        uint256 collateral = _collateral(deposit, c.collateralBps);
        _books[t.provider].locked -= uint96(collateral);
        _releaseJobGpus(jobId, c.gpuCount);
        ++_ledgers[t.provider].disputesLost;
        uint256 amount = deposit * _jobMeta[jobId].disputeSlashBps / BPS;
        // A running job has no withheld pay, so nothing is left over. Nor does a fraud report draw on timeout slashes
        // held for rulings: they back the disputes of the settlements disputable when they were taken, and paying
        // them to this job's client would let a provider pay a second wallet of its own with another client's claim
        // (outside review of 2026-12-03).
        // The job's own collateral (just unlocked) backs the slash first, then free stake beyond earlier debts.
        (uint256 slashed, uint256 compensation,) = _penalize(t.provider, amount, deposit, 0, collateral, false);
        _tokensOut(deposit + compensation);
        emit FraudReported(jobId, evidenceHash, slashed, compensation);
        // What the slash could not take (the stake was locked for other work, say a second wallet's job opened just
        // before this report, or is owed for earlier fraud) is this client's fraud debt: frozen like an open
        // dispute's slash, left in place by every later slash beyond the slashed work's own collateral or reserve,
        // and collected once the stake is free (outside review of 2026-12-03).
        uint256 shortfall = Math.min(amount, deposit) - compensation;
        if (shortfall != 0) {
            FraudDebts memory f = _fraudDebts[t.provider];
            if (f.owed == 0) ++_stats[t.provider].openDisputes;
            _fraudDebtOf[jobId] = shortfall;
            _fraudQueue[t.provider][f.next] = jobId;
            // Safe: the debts are bounded by the deposits of jobs that existed, each < 2^96 and in all below the
            // supply; the queue's indexes count fraud reports.
            f.owed += uint96(shortfall);
            ++f.next;
            _fraudDebts[t.provider] = f;
            _ledgers[t.provider].disputeFrozen += uint96(shortfall);
            emit FraudDebtRecorded(jobId, t.provider, shortfall, f.owed);
        }
        _token.safeTransfer(c.client, deposit + compensation);
    }

    /// @notice See IJobEscrow.
    function collectFraudDebt(address provider) external nonReentrant returns (uint256 collected) {
        FraudDebts storage f = _fraudDebts[provider];
        uint256 owed = f.owed;
        if (owed == 0) revert JobEscrowNoFraudDebt(provider);
        // Free stake, then unbonding stake: never what is locked for clients' work (the debt waits for it to end).
        collected = _staking.slash(provider, owed, address(this), _books[provider].locked);
        if (collected == 0) revert JobEscrowFraudDebtNotCollectable(provider, owed);
        // Safe: slash() takes at most what was asked, `owed`, which disputeFrozen holds too.
        f.owed = uint96(owed - collected);
        _ledgers[provider].disputeFrozen -= uint96(collected);
        if (owed == collected && --_stats[provider].openDisputes == 0) _releaseHold(provider);
        // The slashed tokens pass straight through to the clients: what the escrow owes does not change.
        // Oldest debt first. Each client is paid once its debt's record is written (the suite's own token; this call
        // is guarded against re-entry).
        uint256 first = f.first;
        while (collected != 0) {
            uint256 jobId = _fraudQueue[provider][first];
            uint256 due = _fraudDebtOf[jobId];
            uint256 pay = Math.min(due, collected);
            // Safe: pay <= due and pay <= collected.
            unchecked {
                due -= pay;
                collected -= pay;
            }
            _fraudDebtOf[jobId] = due;
            if (due == 0) f.first = uint80(++first);
            emit FraudDebtCollected(jobId, provider, pay, due);
            _token.safeTransfer(_jobCore[jobId].client, pay);
        }
        collected = owed - f.owed;
    }

    /// @dev Slash into this contract, keep up to `cap` for the client and credit the rest to the treasury; jail.
    /// The order: what backs this job alone, its `reserve` (released into free stake just before: a ruled job's
    /// reserve, a fraud-reported job's collateral) and then its withheld pay (`withheld`, already in this contract);
    /// then the provider's other free stake and its unbonding stake, which other pending rulings may need, but not
    /// what the provider owes for earlier fraud (a second wallet's ruling or fraud report cannot take it back); then,
    /// for a dispute's ruling (`fromHold`), timeout slashes held for rulings (other clients' compensation, so only
    /// after the provider's own). Stake locked for other clients' work is never taken, so bonded >= locked always
    /// holds; nor does this job's own reserve go to a debt first. `leftover`: the withheld pay not drawn.
    function _penalize(
        address provider,
        uint256 amount,
        uint256 cap,
        uint256 withheld,
        uint256 reserve,
        bool fromHold
    ) private returns (uint256 slashed, uint256 compensation, uint256 leftover) {
        uint256 keep = _books[provider].locked;
        uint256 owed = _fraudDebts[provider].owed;
        leftover = withheld;
        if (withheld == 0 && owed == 0) {
            slashed = _staking.slash(provider, amount, address(this), keep);
            _tokensIn(slashed);
        } else {
            uint256 first = Math.min(amount, reserve);
            if (first != 0) slashed = _staking.slash(provider, first, address(this), keep);
            uint256 fromWithheld = Math.min(amount - slashed, withheld);
            // Safe: fromWithheld <= withheld, and slashed + fromWithheld <= amount.
            unchecked {
                leftover = withheld - fromWithheld;
                slashed += fromWithheld;
            }
            if (amount > slashed) {
                slashed += _staking.slash(provider, amount - slashed, address(this), keep + owed);
            }
            // Only the stake slashed came in: the withheld pay was here already.
            _tokensIn(slashed - fromWithheld);
        }
        if (fromHold && amount > slashed) {
            Hold storage h = _holds[provider];
            uint256 fromHold = Math.min(amount - slashed, h.held);
            // Safe: fromHold <= held.
            h.held = uint96(h.held - fromHold);
            slashed += fromHold;
        }
        compensation = Math.min(slashed, cap);
        _accrueFees(slashed - compensation);
        _staking.jail(provider);
    }

    /// @notice See IJobEscrow.
    function pauseSettlement() external {
        if (msg.sender != _guardian) revert Unauthorized(msg.sender, "guardian");
        uint256 ended = _config.pauseEnds;
        // A pause already on is not extended; a new one waits out the cooldown, so timeouts are delayed, not blocked.
        if (ended != 0 && block.timestamp < ended + SETTLEMENT_PAUSE_COOLDOWN) {
            revert JobEscrowSettlementPauseCoolingDown(ended, ended + SETTLEMENT_PAUSE_COOLDOWN, block.timestamp);
        }
        uint256 endsAt = block.timestamp + MAX_SETTLEMENT_PAUSE;
        _config.pauseEnds = uint32(endsAt);
        emit SettlementPauseSet(true, endsAt);
    }

    /// @notice See IJobEscrow.
    function unpauseSettlement() external {
        if (msg.sender != _guardian && msg.sender != governance()) revert Unauthorized(msg.sender, "guardian");
        // Ends the pause now; each running job's grace runs from here.
        if (block.timestamp < _config.pauseEnds) _config.pauseEnds = uint32(block.timestamp);
        emit SettlementPauseSet(false, _config.pauseEnds);
    }

    /// @notice See IJobEscrow.
    function withdrawFees() external nonReentrant returns (uint256 amount) {
        amount = _config.accruedFees;
        if (amount == 0) revert JobEscrowNothingToClaim(_treasury);
        _config.accruedFees = 0;
        _tokensOut(amount);
        emit FeesWithdrawn(_treasury, amount);
        _token.safeTransfer(_treasury, amount);
    }

    /// @notice See IJobEscrow.
    function sweepExcess() external onlyGovernance nonReentrant returns (uint256 amount) {
        uint256 balance = _token.balanceOf(address(this));
        uint256 owed_ = _owed;
        if (balance <= owed_) revert JobEscrowNothingToSweep(balance, owed_);
        // Only what no job or party accounts for: the total owed is untouched.
        amount = balance - owed_;
        address treasury = _treasury;
        emit ExcessSwept(treasury, amount, owed_);
        _token.safeTransfer(treasury, amount);
    }

    /// @notice See IJobEscrow.
    function setOracleSet(address[] calldata oracles, uint8 threshold) external onlyGovernance {
        _setOracleSet(oracles, threshold);
    }

    /// @notice See IJobEscrow.
    function setParameter(uint8 param, uint256 value) external onlyGovernance {
        _setParameter(param, value);
        if (param == uint8(JobParameter.FeeBps) || param == uint8(JobParameter.TimeoutGrace)) _recordFeeTerms();
    }

    /// @notice See IJobEscrow.
    function setRole(uint8 role, address account) external onlyGovernance {
        _setRole(role, account);
    }

    /// @notice See IJobEscrow.
    function pause() external {
        if (msg.sender != _guardian) revert Unauthorized(msg.sender, "guardian");
        _pause();
    }

    /// @notice See IJobEscrow.
    function unpause() external {
        if (msg.sender != _guardian && msg.sender != governance()) revert Unauthorized(msg.sender, "guardian");
        _unpause();
    }

    /// @notice See IJobEscrow.
    function setWorkerBudget(uint256 budget) external {
        WorkerBudget storage w = _workerBudgets[msg.sender];
        w.budget = SafeCast.toUint96(budget);
        w.custom = true;
        emit WorkerBudgetSet(msg.sender, budget);
    }
}
