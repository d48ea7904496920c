// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IJobEscrow} from "../interfaces/IJobEscrow.sol";
import {IProviderStaking} from "../interfaces/IProviderStaking.sol";
import {JobEscrowBase} from "./escrow/JobEscrowBase.sol";
import {JobEscrowDesk} from "./escrow/JobEscrowDesk.sol";
import {JobCore, JobSlots, JobTermsSlot} from "./escrow/JobSlots.sol";

/// @title JobEscrow
/// @notice See {IJobEscrow}.
/// @dev Gas shapes the storage: a settlement reads two packed job slots and writes one, credits the
/// provider's earnings in one packed slot (once per run of receipts by the same provider in a batch), keeps the
/// job's collateral locked as its dispute reserve (released later, after the window), and leaves the client's refund to be claimed later, computed from the job slots.
/// The cold paths live in JobEscrowDesk (see there) and run by delegatecall on this contract's storage.
contract JobEscrow is IJobEscrow, JobEscrowBase {
    using SafeERC20 for IERC20;

    address private immutable _desk;

    /// @param params the first eight JobParameters in order (FeeBps to DisputeBond), each checked against its cap;
    /// MinRunTime and RulingPeriod start at their defaults
    constructor(
        IERC20 token_,
        IProviderStaking staking_,
        address governance,
        address guardian,
        address arbiter,
        address treasury_,
        address[] memory oracles,
        uint8 threshold,
        uint256[8] memory params
    ) JobEscrowBase(token_, staking_, governance) {
        address desk = address(new JobEscrowDesk(token_, staking_));
        _desk = desk;
        // The desk's code sets the roles, parameters and oracle set on this storage: the constructor then carries no
        // copy of the setters' code, which keeps this contract's creation code (the desk's creation code included)
        // under EIP-3860's initcode limit with the largest oracle set.
        (bool ok, bytes memory err) = desk.delegatecall(
            abi.encodeCall(JobEscrowDesk.initialize, (treasury_, guardian, arbiter, oracles, threshold, params))
        );
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(err, 32), mload(err))
            }
        }
    }

    // ------------------------------------------------------------ job opening

    /// @inheritdoc IJobEscrow
    function createJob(
        uint256 offerId,
        uint256 maxGpuSeconds,
        uint256 deadline,
        bytes32 specHash,
        uint256 gpuCount,
        uint256 maxPricePerGpuSecond
    ) external nonReentrant returns (uint256 jobId) {
        return _createJob(offerId, maxGpuSeconds, deadline, specHash, gpuCount, maxPricePerGpuSecond);
    }

    /// @inheritdoc IJobEscrow
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
    ) external nonReentrant returns (uint256 jobId) {
        // The permit is for the most the client accepts to pay (its price limit x maxGpuSeconds), a value it knows
        // when it signs; the escrow pulls the actual deposit, at most that. Out-of-range values are rejected by
        // _createJob before any transfer.
        uint256 most = maxGpuSeconds <= type(uint32).max && maxPricePerGpuSecond <= type(uint64).max
            ? maxPricePerGpuSecond * maxGpuSeconds
            : 0;
        // A permit someone front-ran has already set the allowance; the transfer below then still succeeds.
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), most, permitDeadline, v, r, s) {} catch {}
        return _createJob(offerId, maxGpuSeconds, deadline, specHash, gpuCount, maxPricePerGpuSecond);
    }

    function _createJob(
        uint256 offerId,
        uint256 maxGpuSeconds,
        uint256 deadline,
        bytes32 specHash,
        uint256 gpuCount,
        uint256 maxPrice
    ) private whenNotPaused returns (uint256 jobId) {
        if (maxGpuSeconds == 0 || maxGpuSeconds > type(uint32).max) revert JobEscrowInvalidMaxGpuSeconds(maxGpuSeconds);
        uint256 latest = block.timestamp + MAX_JOB_DURATION;
        if (deadline <= block.timestamp || deadline > latest) revert JobEscrowInvalidDeadline(deadline, block.timestamp, latest);
        IProviderStaking.JobTerms memory terms = _staking.jobTerms(offerId);
        // The client's limits: the offer may have changed since the client read it (or been changed to front-run it).
        if (gpuCount == 0 || gpuCount > terms.gpuCount || terms.pricePerGpuSecond > maxPrice) {
            revert JobEscrowOfferNoLongerFits(offerId, gpuCount, terms.gpuCount, maxPrice, terms.pricePerGpuSecond);
        }
        if (msg.sender == terms.provider || msg.sender == terms.worker) {
            revert JobEscrowSelfDealing(msg.sender, terms.provider, terms.worker);
        }
        Params memory p = _params;
        if (deadline < block.timestamp + p.minRunTime) {
            revert JobEscrowRunTimeTooShort(deadline, block.timestamp + p.minRunTime);
        }

        // Safe from overflow: price < 2^64 and maxGpuSeconds < 2^32.
        uint256 deposit = uint256(terms.pricePerGpuSecond) * maxGpuSeconds;
        uint256 collateral = _collateral(deposit, p.collateralBps);
        ProviderBook storage book = _books[terms.provider];
        uint256 locked = book.locked;
        // Free stake is bonded less the collateral of both escrows (issue 11: leases lock from the same stake) and
        // less what open disputes of either escrow froze for their rulings: new collateral must not lock it out of
        // a ruling's reach.
        uint256 held = locked + terms.leaseHeld;
        if (_stats[terms.provider].openDisputes != 0) held += _ledgers[terms.provider].disputeFrozen;
        uint256 free = terms.bonded > held ? terms.bonded - held : 0;
        if (collateral > free) revert JobEscrowInsufficientFreeStake(terms.provider, free, collateral);
        // Safe: locked + collateral <= bonded < 2^96.
        book.locked = uint96(locked + collateral);

        // The job holds gpuCount of the offer's GPUs until it ends (reverts when the offer has too few free).
        _staking.reserveGpus(offerId, uint8(gpuCount));

        jobId = ++_jobCount;
        // Acceptance closes the minimum run time before the deadline, so no job can be accepted and time out at once.
        uint256 acceptBy = Math.min(block.timestamp + p.acceptWindow, deadline - p.minRunTime);
        _storeCore(
            jobId,
            JobCore({
                client: msg.sender,
                status: JobStatus.Open,
                gpuCount: uint8(gpuCount),
                collateralBps: p.collateralBps,
                stamp: uint32(acceptBy),
                limit: uint32(deadline)
            })
        );
        _jobTerms[jobId] =
            JobTermsSlot({provider: terms.provider, price: terms.pricePerGpuSecond, maxGpuSeconds: uint32(maxGpuSeconds)});
        uint32 window = _config.disputeWindow;
        // The provider's settled jobs stay disputable for the longest window any of its jobs was opened with.
        ProviderLedger storage ledger = _ledgers[terms.provider];
        if (window > ledger.disputeWindow) ledger.disputeWindow = window;
        _jobMeta[jobId] = JobMeta({
            offerId: uint64(offerId),
            originalMaxGpuSeconds: uint32(maxGpuSeconds),
            disputeBond: 0,
            reserveReleased: false,
            disputeWindow: window,
            timeoutSlashBps: p.timeoutSlashBps,
            disputeSlashBps: p.disputeSlashBps,
            gpusReleased: false
        });
        _specHash[jobId] = specHash;
        _tokensIn(deposit);
        _emitCreated(jobId, offerId, specHash, deposit, collateral);
        _token.safeTransferFrom(msg.sender, address(this), deposit);
    }

    function _emitCreated(uint256 jobId, uint256 offerId, bytes32 specHash, uint256 deposit, uint256 collateral)
        private
    {
        JobCore memory c = _jobCore[jobId];
        JobTermsSlot memory t = _jobTerms[jobId];
        emit JobCreated(
            jobId,
            c.client,
            t.provider,
            offerId,
            c.gpuCount,
            t.price,
            t.maxGpuSeconds,
            c.limit,
            c.stamp,
            deposit,
            collateral,
            specHash
        );
    }

    /// @inheritdoc IJobEscrow
    function acceptJob(uint256 jobId) external whenNotPaused {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Open);
        JobTermsSlot memory t = _jobTerms[jobId];
        address provider = t.provider;
        address worker = _staking.workerOf(provider);
        if (msg.sender != provider && msg.sender != worker) revert JobEscrowNotProviderOrWorker(jobId, msg.sender);
        // The worker key may have been rotated to the client's wallet since the job opened.
        if (c.client == worker) revert JobEscrowSelfDealing(c.client, provider, worker);
        if (block.timestamp > c.stamp) revert JobEscrowAcceptanceClosed(jobId, c.stamp, block.timestamp);
        // slither-disable-next-line unused-return unbonding stake does not count toward the minimum
        (uint256 bonded,,, bool jailed) = _staking.stakeOf(provider);
        if (jailed) revert JobEscrowProviderJailed(provider);
        // A provider that fell below the minimum stake since the job opened cannot take it on.
        uint256 minimum = _staking.minStake();
        if (bonded < minimum) revert JobEscrowBelowMinimumStake(provider, bonded, minimum);
        if (msg.sender != provider) {
            _spendWorkerBudget(provider, bonded, _collateral(uint256(t.price) * t.maxGpuSeconds, c.collateralBps));
        }
        c.status = JobStatus.Running;
        c.stamp = uint32(block.timestamp);
        _storeCore(jobId, c);
        emit JobAccepted(jobId, provider, block.timestamp);
    }

    /// @dev The worker key alone commits at most its daily budget of collateral: a stolen key can turn no more
    /// than that (times the timeout slash fraction) into payouts per day, and the provider rotates it meanwhile.
    function _spendWorkerBudget(address provider, uint256 bonded, uint256 need) private {
        WorkerBudget memory w = _workerBudgets[provider];
        uint256 today = block.timestamp / 1 days;
        uint256 used = w.day == today ? w.used : 0;
        uint256 budget = _budgetOf(w, bonded);
        if (used + need > budget) revert JobEscrowWorkerBudgetExceeded(provider, used, budget, need);
        // Safe: used + need <= budget < 2^96, and day numbers fit 32 bits for millions of years.
        w.used = uint96(used + need);
        w.day = uint32(today);
        _workerBudgets[provider] = w;
    }



    /// @inheritdoc IJobEscrow
    function workerBudget(address provider) external view returns (uint256 used, uint256 budget, uint256 resetsAt) {
        WorkerBudget memory w = _workerBudgets[provider];
        uint256 today = block.timestamp / 1 days;
        // slither-disable-next-line unused-return only the bonded stake sizes the default budget
        (uint256 bonded,,,) = _staking.stakeOf(provider);
        return (w.day == today ? w.used : 0, _budgetOf(w, bonded), (today + 1) * 1 days);
    }

    /// @inheritdoc IJobEscrow
    function cancelJob(uint256 jobId) external nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Open);
        JobTermsSlot memory t = _jobTerms[jobId];
        if (block.timestamp <= c.stamp && msg.sender != c.client) {
            // Before the acceptance deadline: the client cancels, or the provider declines.
            if (msg.sender != t.provider && msg.sender != _staking.workerOf(t.provider)) {
                revert JobEscrowCancelNotAllowed(jobId, msg.sender, c.stamp);
            }
        }
        c.status = JobStatus.Cancelled;
        _storeCore(jobId, c);
        uint256 deposit = uint256(t.price) * t.maxGpuSeconds;
        _books[t.provider].locked -= uint96(_collateral(deposit, c.collateralBps));
        _releaseJobGpus(jobId, c.gpuCount);
        _tokensOut(deposit);
        emit JobCancelled(jobId, msg.sender, deposit);
        _token.safeTransfer(c.client, deposit);
    }

    // ------------------------------------------------------------- settlement

    /// @inheritdoc IJobEscrow
    function settle(Receipt calldata receipt, Signature calldata workerSig, Signature[] calldata attestation)
        external
        nonReentrant
    {
        SettleConfig memory cfg = _config;
        if (block.timestamp < cfg.pauseEnds) revert JobEscrowSettlementPaused();
        bytes32 structHash = _receiptStructHash(receipt);
        bytes32 receiptsHash;
        // keccak256 of the one struct hash, in scratch space (abi.encodePacked would allocate memory for it).
        assembly ("memory-safe") {
            mstore(0x00, structHash)
            receiptsHash := keccak256(0x00, 0x20)
        }
        _verifyAttestation(receiptsHash, attestation, cfg);
        Run memory run;
        run.domainSeparator = _domainSeparatorV4();
        _loadTerms(cfg, run);
        uint256 fault = _settleOne(receipt, structHash, workerSig, run);
        if (fault != 0) _refuse(receipt, structHash, workerSig, fault, cfg, run);
        _flush(run);
        _accrueFees(run.fees);
    }

    /// @inheritdoc IJobEscrow
    function settleBatch(Receipt[] calldata receipts, Signature[] calldata workerSigs, Signature[] calldata attestation)
        external
        nonReentrant
        returns (uint256 settled)
    {
        uint256 n = receipts.length;
        if (n == 0) revert JobEscrowEmptyBatch();
        if (n != workerSigs.length) revert JobEscrowLengthMismatch(n, workerSigs.length);
        SettleConfig memory cfg = _config;
        if (block.timestamp < cfg.pauseEnds) revert JobEscrowSettlementPaused();
        bytes32[] memory hashes = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            hashes[i] = _receiptStructHash(receipts[i]);
        }
        bytes32 receiptsHash;
        // The attested value is keccak256 over the packed struct hashes, which is exactly the array's body.
        assembly ("memory-safe") {
            receiptsHash := keccak256(add(hashes, 0x20), mul(n, 0x20))
        }
        _verifyAttestation(receiptsHash, attestation, cfg);
        Run memory run;
        run.domainSeparator = _domainSeparatorV4();
        _loadTerms(cfg, run);
        for (uint256 i = 0; i < n; ++i) {
            uint256 fault = _settleOne(receipts[i], hashes[i], workerSigs[i], run);
            if (fault == 0) {
                // Safe: bounded by the calldata array length.
                unchecked {
                    ++settled;
                }
            } else {
                // One receipt that cannot settle (its provider rotated the worker key meanwhile, it became late...)
                // must not sink the others' settlement: it is skipped, with the reason, and changes nothing.
                _skip(receipts[i].jobId, fault);
            }
        }
        _flush(run);
        _accrueFees(run.fees);
    }

    /// @dev What every receipt of the call reads of the configuration, kept in the run.
    function _loadTerms(SettleConfig memory cfg, Run memory run) private pure {
        run.timeoutGrace = cfg.timeoutGrace;
        run.feeBps = cfg.feeBps;
        run.termsSince = cfg.termsSince;
        run.pauseEnds = cfg.pauseEnds;
    }

    function _receiptStructHash(Receipt calldata r) private pure returns (bytes32 h) {
        bytes32 typehash = RECEIPT_TYPEHASH;
        // hashStruct = keccak256(typehash . the seven fields as 32-byte words), which is the receipt's static
        // calldata encoding. Dirty high bits cannot slip through: every field is read (and so validated by the
        // ABI decoder) before the receipt can settle.
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), r, 0xe0)
            h := keccak256(ptr, 0x100)
        }
    }

    /// @dev EIP-2098 compact recovery; returns zero for anything but a canonical low-s signature.
    /// Equivalent to OpenZeppelin's ECDSA.tryRecover(hash, r, vs) without its layered calls, which matters
    /// once per receipt in a batch.
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

    /// @dev keccak256("\x19\x01" . domainSeparator . structHash), as EIP-712 defines the signed digest.
    function _typedDigest(bytes32 domainSep, bytes32 structHash) private pure returns (bytes32 d) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, hex"1901")
            mstore(add(ptr, 0x02), domainSep)
            mstore(add(ptr, 0x22), structHash)
            d := keccak256(ptr, 0x42)
        }
    }

    function _verifyAttestation(bytes32 receiptsHash, Signature[] calldata sigs, SettleConfig memory cfg) private view {
        uint256 n = sigs.length;
        if (n < cfg.oracleThreshold) revert JobEscrowAttestationBelowThreshold(n, cfg.oracleThreshold);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(ATTESTATION_TYPEHASH, receiptsHash, cfg.oracleEpoch)));
        address previous = address(0);
        for (uint256 i = 0; i < n; ++i) {
            address signer = _recover(digest, sigs[i]);
            if (signer == address(0)) revert JobEscrowMalformedSignature(i);
            // Strictly ascending signers: a repeated signature cannot count twice.
            if (signer <= previous) revert JobEscrowOracleSignersNotSorted(i, signer, previous);
            if (_oracleEpochOf[signer] != cfg.oracleEpoch) revert JobEscrowNotOracle(signer, cfg.oracleEpoch);
            previous = signer;
        }
    }

    /// @return fault 0 when the receipt settled, else 1 + the SkipReason that refuses it. Every check comes before the
    /// first write, so a refused receipt leaves the job and the books as they were (and `run` a clean accumulator).
    /// settleBatch skips it (_skip); settle reverts with its error (_refuse), kept off this path for gas.
    /// @dev The hot path of every settlement, so the two job slots are handled as raw words (layouts in
    /// JobCore and JobTermsSlot) instead of being unpacked into memory structs and packed again.
    function _settleOne(
        Receipt calldata r,
        bytes32 structHash,
        Signature calldata sig,
        Run memory run
    ) private returns (uint256 fault) {
        uint256 jobId = r.jobId;
        JobCore storage core = _jobCore[jobId];
        JobTermsSlot storage terms = _jobTerms[jobId];
        uint256 coreWord;
        uint256 termsWord;
        assembly ("memory-safe") {
            coreWord := sload(core.slot)
            termsWord := sload(terms.slot)
        }
        if (JobSlots.status(coreWord) != JobStatus.Running) return 1 + uint256(SkipReason.NotRunning);
        // From deadline + grace on, the job belongs to the timeout path; a late receipt must not race it. A settlement
        // pause stops that clock: the grace runs from the pause's end at the earliest.
        // The job's own fee and grace: the current ones unless it was accepted before they took effect.
        uint256 acceptedAt = uint32(coreWord >> JobSlots.CORE_STAMP);
        uint256 feeBps = run.feeBps;
        uint256 grace = run.timeoutGrace;
        if (acceptedAt < run.termsSince) (feeBps, grace) = _feeTermsAt(acceptedAt);
        // Too late from max(deadline, pauseEnds) + grace on; the pause's end is read only for a receipt past its
        // deadline's grace (rare).
        if (block.timestamp >= (coreWord >> JobSlots.CORE_LIMIT) + grace && block.timestamp >= run.pauseEnds + grace) {
            return 1 + uint256(SkipReason.TooLate);
        }
        address provider = address(uint160(termsWord));
        if (r.provider != provider) return 1 + uint256(SkipReason.WrongProvider);
        // Set when this receipt starts a new provider's run: refusing it then must not leave that provider in `run`,
        // or the final _flush would stamp lastSettledAt (and so its dispute window) for a receipt that never settled.
        bool switched;
        if (provider != run.provider) {
            switched = true;
            _flush(run);
            run.provider = provider;
            run.feesBefore = run.fees;
            uint256 bonded;
            // settlementContext: bonded less the lease escrow's locked collateral, so free stake below counts both
            // escrows' locks (a raised reserve never promises a lease's collateral); a selector the dispatcher reaches
            // first.
            (run.worker, bonded) = _staking.settlementContext(provider);
            // No worker key yet: a stand-in no key signs for (finding one is a 2^160 search), so the per-receipt check
            // is a single comparison (_recover returns zero for a signature it refuses).
            if (run.worker == address(0)) run.worker = address(1);
            uint256 locked = _books[provider].locked;
            // Stake an open dispute froze for its ruling is not free for a raised reserve either (the lease escrow's
            // freeze is netted out of `bonded` above): a reserve is locked collateral, which rulings slash around.
            if (_stats[provider].openDisputes != 0) locked += _ledgers[provider].disputeFrozen;
            run.free = bonded > locked ? bonded - locked : 0;
        }
        // A worker key rotated after signing (say, to front-run a batch) refuses only this provider's receipts.
        fault = _workerSigned(run.domainSeparator, structHash, sig, run.worker)
            ? _numbersFault(r, acceptedAt, uint8(coreWord >> JobSlots.CORE_GPU_COUNT), coreWord >> JobSlots.CORE_LIMIT)
            : 1 + uint256(SkipReason.WrongWorker);
        if (fault != 0) {
            if (switched) run.provider = address(0);
            return fault;
        }
        // The provider's own failure pays nothing and costs it what a timeout would have (issue 8, lower finding 7):
        // settled off this path, by the desk, on storage. The run ends here: its earlier receipts go to storage first
        // (the desk reads the provider's books and last settlement from there), and the provider's next receipt
        // re-reads its stake, which the slash changed.
        if (r.outcome == uint8(Outcome.FailedProvider)) {
            if (!switched) _flush(run);
            run.provider = address(0);
            _settleFailed(jobId);
            return 0;
        }
        uint256 maxGpuSeconds = uint32(termsWord >> JobSlots.TERMS_MAX_GPU_SECONDS);
        uint256 reserve;
        uint256 billed = Math.min(r.gpuSeconds, maxGpuSeconds);
        uint256 settledWord = JobSlots.settledCore(coreWord, billed, block.timestamp);
        // The dispute reserve: a ruling gives the client back what it paid, so that much stays locked until the
        // window closes when the provider's free stake covers it. Else free stake raises it as far as it goes and
        // the rest of the pay is withheld in the escrow until then (the provider decides when its receipt lands, so
        // it can make free stake short at that moment and drain it afterwards, through the lease escrow too).
        // Nothing locked or slashed after this settlement can then shield what the ruling gives back.
        unchecked {
            // Safe: price < 2^64, billed and maxGpuSeconds < 2^32; extra <= run.free; fee <= paid.
            uint256 price = uint64(termsWord >> JobSlots.TERMS_PRICE);
            uint256 paid = billed * price;
            reserve = _collateral(price * maxGpuSeconds, uint16(coreWord >> JobSlots.CORE_COLLATERAL_BPS));
            if (paid > reserve && paid - reserve <= run.free) {
                run.free -= paid - reserve;
                run.reserved += paid - reserve;
                reserve = paid;
                settledWord |= uint256(RESERVE_RAISED) << JobSlots.CORE_COLLATERAL_BPS;
            } else if (paid > reserve) {
                // Raise what free stake covers and withhold only the rest: a dust job opened (and cancelled) around
                // the receipt must not hold back the whole pay (issue 8, third review, attack review).
                uint256 raised = run.free;
                run.free = 0;
                run.reserved += raised;
                reserve += raised;
                _withhold(jobId, run, paid - reserve, paid - paid * feeBps / BPS, raised);
            }
        }
        assembly ("memory-safe") {
            sstore(core.slot, settledWord)
        }
        _credit(r, uint64(termsWord >> JobSlots.TERMS_PRICE), billed, feeBps, run, reserve);
    }

    /// @dev Keep up to `extra` of a settled job's pay (at most its payout, `earnings`) in the escrow until its
    /// dispute window closes; `raised` is what free stake added to its reserve beside the collateral (stored with
    /// it, above bit 128: the reserve is released with the collateral). Runs before _credit adds the payout, which
    /// leaves the run's earnings short by the withheld part; the wrap-around in between is undone by that addition
    /// (earnings >= withheld).
    function _withhold(uint256 jobId, Run memory run, uint256 extra, uint256 earnings, uint256 raised) private {
        uint256 amount = extra < earnings ? extra : earnings;
        // Both are below 2^96 (see the constructor), so they share the slot.
        _withheld[jobId] = amount | (raised << 128);
        if (amount == 0) return;
        // Safe: see above; the run's earnings are a 256-bit sum of payouts, each below 2^96.
        unchecked {
            run.earnings -= amount;
        }
        // Released when the job's dispute window, from this settlement, has closed (releaseCollateral) or its
        // dispute is ruled or lapses.
        emit PayWithheld(jobId, run.provider, amount, block.timestamp + _jobMeta[jobId].disputeWindow);
    }

    /// @dev A FailedProvider receipt, checked like any other: the desk settles it on storage (settleFailedProvider),
    /// which keeps its slash and bookkeeping out of this contract's code and the hot path.
    function _settleFailed(uint256 jobId) private {
        address desk = _desk;
        bytes4 selector = JobEscrowDesk.settleFailedProvider.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), jobId)
            if iszero(delegatecall(gas(), desk, ptr, 0x24, 0, 0)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
        }
    }

    function _workerSigned(bytes32 domainSep, bytes32 structHash, Signature calldata sig, address worker)
        private
        view
        returns (bool)
    {
        // worker is never zero here (see the stand-in in _settleOne), so a refused signature never matches it.
        return _recover(_typedDigest(domainSep, structHash), sig) == worker;
    }

    /// @return fault 0 when the receipt's numbers are possible, else 1 + the SkipReason that refuses them
    function _numbersFault(Receipt calldata r, uint256 acceptedAt, uint256 gpuCount, uint256 deadline)
        private
        view
        returns (uint256 fault)
    {
        if (r.startTime < acceptedAt || r.endTime < r.startTime || r.endTime > block.timestamp) {
            return 1 + uint256(SkipReason.ImpossibleTimes);
        }
        // Work after the deadline was not paid for (the grace is for posting the receipt, not for running).
        if (r.endTime > deadline) return 1 + uint256(SkipReason.EndAfterDeadline);
        if (r.gpuSeconds > _meterLimit(r, gpuCount)) return 1 + uint256(SkipReason.ImpossibleGpuSeconds);
        if (r.outcome > uint8(Outcome.FailedProvider)) return 1 + uint256(SkipReason.InvalidOutcome);
    }

    /// @dev The most GPU-seconds a receipt's wall time allows; call only once endTime >= startTime is checked.
    function _meterLimit(Receipt calldata r, uint256 gpuCount) private pure returns (uint256) {
        // Safe from overflow: endTime <= block.timestamp and gpuCount < 2^8. The tolerance covers clock skew of a
        // run that took time; a run of no wall time bills nothing.
        uint256 wall = r.endTime - r.startTime;
        return wall == 0 ? 0 : (wall + METER_TOLERANCE_SECONDS) * gpuCount;
    }

    /// @dev A batch receipt that cannot settle (`fault` = 1 + its SkipReason): the event says which job and why.
    function _skip(uint256 jobId, uint256 fault) private {
        emit SettlementSkipped(jobId, _jobCore[jobId].status, SkipReason(fault - 1));
    }

    /// @dev A single settle names what was wrong, with the values: re-derives them for the check that refused the
    /// receipt (`fault` = 1 + its SkipReason) and reverts with its error. Off the hot path, so batches pay nothing.
    function _refuse(
        Receipt calldata r,
        bytes32 structHash,
        Signature calldata sig,
        uint256 fault,
        SettleConfig memory cfg,
        Run memory run
    )
        private
        view
    {
        uint256 jobId = r.jobId;
        JobCore memory c = _jobCore[jobId];
        SkipReason reason = SkipReason(fault - 1);
        if (reason == SkipReason.NotRunning) _revertStatus(jobId, c.status, JobStatus.Running);
        if (reason == SkipReason.TooLate) {
            (, uint256 grace) = _jobFeeTerms(c.stamp, cfg);
            revert JobEscrowSettlementTooLate(jobId, Math.max(c.limit, cfg.pauseEnds) + grace, block.timestamp);
        }
        if (reason == SkipReason.WrongProvider) revert JobEscrowWrongProvider(jobId, _jobTerms[jobId].provider, r.provider);
        if (reason == SkipReason.WrongWorker) {
            address signer = _recover(_typedDigest(run.domainSeparator, structHash), sig);
            revert JobEscrowInvalidWorkerSignature(jobId, signer, run.worker);
        }
        if (reason == SkipReason.ImpossibleTimes) {
            revert JobEscrowImpossibleTimes(jobId, r.startTime, r.endTime, c.stamp, block.timestamp);
        }
        if (reason == SkipReason.EndAfterDeadline) revert JobEscrowEndAfterDeadline(jobId, r.endTime, c.limit);
        if (reason == SkipReason.ImpossibleGpuSeconds) {
            revert JobEscrowImpossibleGpuSeconds(jobId, r.gpuSeconds, _meterLimit(r, c.gpuCount));
        }
        revert JobEscrowInvalidOutcome(jobId, r.outcome);
    }

    function _credit(
        Receipt calldata r,
        uint256 price,
        uint256 billed,
        uint256 feeBps,
        Run memory run,
        uint256 reserve
    ) private {
        // Safe: price < 2^64 and billed <= maxGpuSeconds < 2^32, so paid < 2^96, and fee <= paid; every
        // sum is bounded by deposits this contract holds.
        unchecked {
            uint256 paid = billed * price;
            uint256 fee = paid * feeBps / BPS;
            run.earnings += paid - fee;
            run.fees += fee;
            run.gpuSeconds += billed;
            // The record counts what the provider did: a completed job that billed nothing is no completed job,
            // and a job the client's code failed is no failure of the provider.
            if (r.outcome == uint8(Outcome.Completed)) {
                if (billed != 0) ++run.completed;
            } else if (r.outcome == uint8(Outcome.FailedProvider)) {
                // Not reached since issue 8, lower finding 7 (the desk settles these: settleFailedProvider, which
                // counts the failure itself); kept so that this path's code, and its gas, stay as measured.
                ++run.failed;
            }
            emit JobSettled(r.jobId, billed, paid - fee, fee, r.outcome, reserve);
        }
    }

    /// @dev Writes what a run of receipts owes its provider. Sums are done in 256 bits and narrowed with
    /// SafeCast: a batch whose total would not fit the packed fields reverts instead of losing tokens to
    /// truncation (the receipts can then settle in smaller batches, or after the provider withdraws).
    function _flush(Run memory run) private {
        if (run.provider == address(0)) return;
        ProviderBook storage b = _books[run.provider];
        ProviderStats storage s = _stats[run.provider];
        uint256 bookWord;
        uint256 statsWord;
        assembly ("memory-safe") {
            bookWord := sload(b.slot)
            statsWord := sload(s.slot)
        }
        // One SSTORE per slot (field-by-field assignment reads and writes the slot once per field). Layouts as
        // declared in ProviderBook (locked 96 | earnings 96 | gpuSecondsServed 64) and ProviderStats (valuePaid 96 |
        // completed 32 | failed 32 | timedOut 32 | openDisputes 32 | lastSettledAt 32), lowest bits first.
        // The settled jobs' reserves stay locked until their windows close (releaseCollateral); the raised part was
        // taken from free stake, so locked stays <= bonded < 2^96.
        bookWord = (uint96(bookWord) + run.reserved)
            | (uint256(SafeCast.toUint96(uint96(bookWord >> 96) + run.earnings)) << 96)
            | (uint256(SafeCast.toUint64((bookWord >> 192) + run.gpuSeconds)) << 192);
        // Safe: the run's fees are part of run.fees (it only grows), and both sums are bounded by deposits held.
        uint256 value;
        unchecked {
            value = run.earnings + (run.fees - run.feesBefore);
        }
        statsWord = Math.min(uint96(statsWord) + value, type(uint96).max)
            | (uint256(SafeCast.toUint32(uint32(statsWord >> 96) + run.completed)) << 96)
            | (uint256(SafeCast.toUint32(uint32(statsWord >> 128) + run.failed)) << 128)
            | (statsWord & (uint256(type(uint64).max) << 160)) | (block.timestamp << 224);
        assembly ("memory-safe") {
            sstore(b.slot, bookWord)
            sstore(s.slot, statsWord)
        }
        run.reserved = 0;
        run.earnings = 0;
        run.gpuSeconds = 0;
        run.completed = 0;
        run.failed = 0;
    }


    // -------------------------------------------------------- after the fact









    /// @inheritdoc IJobEscrow
    function withdrawEarnings() external nonReentrant returns (uint256 amount) {
        ProviderBook storage b = _books[msg.sender];
        amount = b.earnings;
        if (amount == 0) revert JobEscrowNothingToClaim(msg.sender);
        b.earnings = 0;
        _tokensOut(amount);
        emit EarningsWithdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }


    // ------------------------------------------------------------- governance









    // ---------------------------------------------------------------- helpers







    // ------------------------------------------------ run by JobEscrowDesk

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

    /// @inheritdoc IJobEscrow
    function claimTimeout(uint256) external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function claimHeldSlash(uint256) external returns (uint256) {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function releaseJobGpus(uint256[] calldata) external returns (uint256) {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function claimRefunds(uint256[] calldata) external returns (uint256) {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function releaseCollateral(uint256[] calldata) external returns (uint256) {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function dispute(uint256, bytes32) external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function resolveDispute(uint256, bool) external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function reportFraud(uint256, bytes32) external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function collectFraudDebt(address) external returns (uint256) {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    /// @dev Named so that its selector (0xfe8eb9cb) sorts after every other one: the dispatcher reaches settle and
    /// settleBatch with no more comparisons than before (a name like lapseDispute, 0x05a13025, cost each call 22 gas).
    function closeUnruledDispute(uint256) external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function withdrawFees() external returns (uint256) {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function setOracleSet(address[] calldata, uint8) external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function setParameter(uint8, uint256) external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function setRole(uint8, address) external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function pause() external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function unpause() external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function setWorkerBudget(uint256) external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function pauseSettlement() external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function unpauseSettlement() external {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function sweepExcess() external returns (uint256) {
        _toDesk();
    }

    /// @inheritdoc IJobEscrow
    function settlementPaused() external view returns (bool) {
        return block.timestamp < _config.pauseEnds;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IJobEscrow
    function getJob(uint256 jobId) external view returns (JobView memory v) {
        JobCore memory c = _jobCore[jobId];
        if (c.status == JobStatus.None) revert JobEscrowUnknownJob(jobId);
        JobTermsSlot memory t = _jobTerms[jobId];
        JobMeta memory m = _jobMeta[jobId];
        uint256 deposit = uint256(t.price) * m.originalMaxGpuSeconds;
        v.status = c.status;
        v.client = c.client;
        v.provider = t.provider;
        v.offerId = m.offerId;
        v.pricePerGpuSecond = t.price;
        v.maxGpuSeconds = t.maxGpuSeconds;
        v.gpuCount = c.gpuCount;
        v.deposit = deposit;
        v.collateral = _collateral(deposit, c.collateralBps & ~RESERVE_RAISED);
        v.specHash = _specHash[jobId];
        v.disputeBond = m.disputeBond;
        if (c.status == JobStatus.Open) {
            v.acceptBy = c.stamp;
            v.deadline = c.limit;
        } else if (c.status == JobStatus.Running) {
            v.acceptedAt = c.stamp;
            v.deadline = c.limit;
        }
        if (_isSettled(c.status)) {
            if (c.status == JobStatus.Disputed) v.deadline = _disputes[jobId].rulingDeadline;
            v.billedGpuSeconds = c.stamp;
            v.settledAt = c.limit;
            v.refundable = uint256(t.maxGpuSeconds - c.stamp) * t.price;
        }
    }

    /// @inheritdoc IJobEscrow
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @inheritdoc IJobEscrow
    function providerRecord(address provider) external view returns (ProviderRecord memory r) {
        ProviderBook memory b = _books[provider];
        ProviderStats memory s = _stats[provider];
        r.lockedCollateral = b.locked;
        r.earnings = b.earnings;
        r.gpuSecondsServed = b.gpuSecondsServed;
        r.jobsCompleted = s.completed;
        r.jobsFailed = s.failed;
        r.jobsTimedOut = s.timedOut;
        r.disputesLost = _ledgers[provider].disputesLost;
        r.openDisputes = _disputesOpen(s.openDisputes, _fraudDebts[provider].owed);
        r.totalSlashed = _staking.totalSlashedOf(provider);
        r.valuePaid = s.valuePaid;
    }

    /// @inheritdoc IJobEscrow
    function unstakeBlockers(address provider)
        external
        view
        returns (uint256 locked, uint256 openDisputes, uint256 disputableUntil, uint256 frozen)
    {
        ProviderStats memory s = _stats[provider];
        // Each job keeps the window it was opened with; the provider's longest one bounds them all.
        disputableUntil = _disputableUntil(provider, s.lastSettledAt);
        // Only an open dispute freezes stake: without one, no extra storage read for the lease escrow's checks.
        if (s.openDisputes != 0) frozen = _ledgers[provider].disputeFrozen;
        return (_books[provider].locked, s.openDisputes, disputableUntil, frozen);
    }

    /// @inheritdoc IJobEscrow
    function withheldPay(uint256 jobId) external view returns (uint256) {
        return uint128(_withheld[jobId]);
    }

    /// @inheritdoc IJobEscrow
    function fraudDebt(uint256 jobId) external view returns (uint256) {
        return _fraudDebtOf[jobId];
    }

    /// @inheritdoc IJobEscrow
    function fraudDebtOf(address provider) external view returns (uint256 owed, uint256 debts) {
        FraudDebts memory f = _fraudDebts[provider];
        return (f.owed, f.next - f.first);
    }

    /// @inheritdoc IJobEscrow
    function heldSlashes(address provider) external view returns (uint256 held, uint256 released) {
        return (_holds[provider].held, _heldReleased[provider]);
    }

    /// @inheritdoc IJobEscrow
    function disputeWindow() external view returns (uint256) {
        return _config.disputeWindow;
    }

    /// @inheritdoc IJobEscrow
    function minRunTime() external view returns (uint256) {
        return _params.minRunTime;
    }

    /// @inheritdoc IJobEscrow
    function rulingPeriod() external view returns (uint256) {
        return _params.rulingPeriod;
    }

    /// @inheritdoc IJobEscrow
    function jobFeeTerms(uint256 jobId) external view returns (uint256 feeBps, uint256 timeoutGrace) {
        JobCore memory c = _jobCore[jobId];
        SettleConfig memory cfg = _config;
        if (c.status != JobStatus.Running) return (cfg.feeBps, cfg.timeoutGrace);
        return _jobFeeTerms(c.stamp, cfg);
    }

    /// @inheritdoc IJobEscrow
    function parameters() external view returns (uint256[PARAM_COUNT] memory) {
        return _parameters();
    }

    /// @inheritdoc IJobEscrow
    function oracleSet() external view returns (address[] memory oracles, uint8 threshold, uint64 epoch) {
        SettleConfig memory cfg = _config;
        return (_oracles, cfg.oracleThreshold, cfg.oracleEpoch);
    }

    /// @inheritdoc IJobEscrow
    function accruedFees() external view returns (uint256) {
        return _config.accruedFees;
    }

    /// @inheritdoc IJobEscrow
    function owed() external view returns (uint256) {
        return _owed;
    }

    /// @inheritdoc IJobEscrow
    function roles() external view returns (address treasury, address guardian, address arbiter) {
        return (_treasury, _guardian, _arbiter);
    }

    /// @notice The escrowed token.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice The staking contract.
    function staking() external view returns (address) {
        return address(_staking);
    }

    /// @inheritdoc IJobEscrow
    function receiptDigest(Receipt calldata receipt) external view returns (bytes32) {
        return _hashTypedDataV4(_receiptStructHash(receipt));
    }

    /// @inheritdoc IJobEscrow
    function attestationDigest(bytes32 receiptsHash, uint64 epoch) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ATTESTATION_TYPEHASH, receiptsHash, epoch)));
    }

    /// @inheritdoc IJobEscrow
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
}

