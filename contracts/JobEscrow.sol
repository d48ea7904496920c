// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IJobEscrow} from "../interfaces/IJobEscrow.sol";
import {IProviderStaking} from "../interfaces/IProviderStaking.sol";
import {Governed} from "./utils/Governed.sol";

/// @title JobEscrow
/// @notice See {IJobEscrow}.
/// @dev Gas shapes the storage: a settlement reads two packed job slots and writes one, credits the
/// provider's earnings and unlocks its collateral in one packed slot (once per run of receipts by the same
/// provider in a batch), and leaves the client's refund to be claimed later, computed from the job slots.
contract JobEscrow is IJobEscrow, Governed, Pausable, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;

    bytes32 public constant RECEIPT_TYPEHASH = keccak256(
        "JobReceipt(uint256 jobId,address provider,uint64 gpuSeconds,uint64 startTime,uint64 endTime,bytes32 resultHash,uint8 outcome)"
    );
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256("Attestation(bytes32 receiptsHash,uint64 oracleEpoch)");

    uint256 private constant BPS = 10_000;
    /// @notice Slack, in seconds per GPU, between a receipt's wall time and the GPU-seconds it may claim.
    uint256 public constant METER_TOLERANCE_SECONDS = 5;
    uint256 public constant MAX_JOB_DURATION = 365 days;
    uint256 public constant MAX_ORACLES = 32;

    uint8 internal constant PARAM_FEE_BPS = 0;
    uint8 internal constant PARAM_COLLATERAL_BPS = 1;
    uint8 internal constant PARAM_TIMEOUT_SLASH_BPS = 2;
    uint8 internal constant PARAM_DISPUTE_SLASH_BPS = 3;
    uint8 internal constant PARAM_DISPUTE_WINDOW = 4;
    uint8 internal constant PARAM_ACCEPT_WINDOW = 5;
    uint8 internal constant PARAM_TIMEOUT_GRACE = 6;
    uint8 internal constant PARAM_DISPUTE_BOND = 7;
    uint8 internal constant PARAM_COUNT = 8;

    uint8 internal constant ROLE_TREASURY = 0;
    uint8 internal constant ROLE_GUARDIAN = 1;
    uint8 internal constant ROLE_ARBITER = 2;

    modifier onlyArbiter() {
        if (msg.sender != _arbiter) revert Unauthorized(msg.sender, "arbiter");
        _;
    }

    /// @dev Hard caps, indexed by parameter: no caller, governance included, can go outside them.
    function _bounds(uint8 param) private pure returns (uint256 min, uint256 max) {
        if (param == PARAM_FEE_BPS) return (0, 1_000); // at most 10% of a payment
        if (param == PARAM_COLLATERAL_BPS) return (0, BPS); // at most the job's value
        if (param == PARAM_TIMEOUT_SLASH_BPS) return (0, BPS); // of the collateral
        if (param == PARAM_DISPUTE_SLASH_BPS) return (0, BPS); // of the job's deposit
        if (param == PARAM_DISPUTE_WINDOW) return (1 hours, 30 days);
        if (param == PARAM_ACCEPT_WINDOW) return (1 minutes, 7 days);
        if (param == PARAM_TIMEOUT_GRACE) return (0, 7 days);
        return (0, 1_000_000 ether); // PARAM_DISPUTE_BOND; _setParameter refuses unknown indexes first
    }

    /// @dev Read and written by every settlement. 128 + 16 + 32 + 8 + 32 + 32 bits. The epoch counts oracle set
    /// changes, so 32 bits outlast any governance.
    struct SettleConfig {
        uint128 accruedFees;
        uint16 feeBps;
        uint32 oracleEpoch;
        uint8 oracleThreshold;
        uint32 disputeWindow;
        uint32 timeoutGrace;
    }

    /// @dev The other parameters, read when jobs open, time out or are disputed. 3 x 16 + 32 + 96 bits.
    struct Params {
        uint16 collateralBps;
        uint16 timeoutSlashBps;
        uint16 disputeSlashBps;
        uint32 acceptWindow;
        uint96 disputeBond;
    }

    /// @dev Job slot 1, written by every state change. `stamp` and `limit` change meaning with the status:
    /// Open: acceptBy and deadline; Running: acceptedAt and deadline; after settlement: billed GPU-seconds
    /// and settledAt. Timestamps fit 32 bits until 2106.
    struct JobCore {
        address client;
        JobStatus status;
        uint8 gpuCount;
        uint16 collateralBps;
        uint32 stamp;
        uint32 limit;
    }

    /// @dev Job slot 2, read by settlement. maxGpuSeconds drops to the billed seconds once the refund is claimed.
    struct JobTermsSlot {
        address provider;
        uint64 price;
        uint32 maxGpuSeconds;
    }

    /// @dev Job slot 3, off the settlement path.
    struct JobMeta {
        uint64 offerId;
        uint32 originalMaxGpuSeconds;
        uint96 disputeBond;
    }

    /// @dev Per provider, updated once per run of a batch. 96 + 96 + 64 bits.
    struct ProviderBook {
        uint96 locked;
        uint96 earnings;
        uint64 gpuSecondsServed;
    }

    /// @dev 3 x 48 + 3 x 32 bits. lastSettledAt keeps unbonded stake in place until the dispute window of
    /// the provider's latest settlement has closed (see unstakeBlockers).
    struct ProviderStats {
        uint48 completed;
        uint48 failed;
        uint48 timedOut;
        uint32 disputesLost;
        uint32 openDisputes;
        uint32 lastSettledAt;
    }

    /// @dev What a batch owes one provider, written to storage when the provider changes.
    struct Run {
        bytes32 domainSeparator;
        uint256 timeoutGrace;
        address provider;
        address worker;
        uint256 earnings;
        uint256 unlock;
        uint256 gpuSeconds;
        uint256 completed;
        uint256 failed;
        uint256 fees;
    }

    IERC20 private immutable _token;
    IProviderStaking private immutable _staking;

    SettleConfig private _config;
    Params private _params;
    address private _treasury;
    address private _guardian;
    address private _arbiter;
    uint256 private _jobCount;
    address[] private _oracles;

    mapping(address oracle => uint32 epoch) private _oracleEpochOf;
    // slither-disable-next-line uninitialized-state written only by sstore in _storeCore and _settleOne (one packed word), which Slither does not see
    mapping(uint256 jobId => JobCore) private _jobCore;
    mapping(uint256 jobId => JobTermsSlot) private _jobTerms;
    mapping(uint256 jobId => JobMeta) private _jobMeta;
    mapping(uint256 jobId => bytes32) private _specHash;
    mapping(address provider => ProviderBook) private _books;
    mapping(address provider => ProviderStats) private _stats;

    /// @param params the initial parameters in setParameter's order, each checked against its cap
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
    ) EIP712("gpusettle JobEscrow", "1") Governed(governance) {
        if (address(token_) == address(0) || address(staking_) == address(0)) revert ZeroAddress();
        _token = token_;
        _staking = staking_;
        _setRole(ROLE_TREASURY, treasury_);
        _setRole(ROLE_GUARDIAN, guardian);
        _setRole(ROLE_ARBITER, arbiter);
        for (uint8 i = 0; i < PARAM_COUNT; ++i) {
            _setParameter(i, params[i]);
        }
        _setOracleSet(oracles, threshold);
    }

    // ------------------------------------------------------------ job opening

    /// @inheritdoc IJobEscrow
    function createJob(uint256 offerId, uint256 maxGpuSeconds, uint256 deadline, bytes32 specHash)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        return _createJob(offerId, maxGpuSeconds, deadline, specHash);
    }

    /// @inheritdoc IJobEscrow
    function createJobWithPermit(
        uint256 offerId,
        uint256 maxGpuSeconds,
        uint256 deadline,
        bytes32 specHash,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 jobId) {
        // Sized exactly; an out-of-range maxGpuSeconds is rejected by _createJob before any transfer.
        uint256 deposit =
            maxGpuSeconds <= type(uint32).max ? uint256(_staking.jobTerms(offerId).pricePerGpuSecond) * maxGpuSeconds : 0;
        // A permit someone front-ran has already set the allowance; the transfer below then still succeeds.
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), deposit, permitDeadline, v, r, s) {} catch {}
        return _createJob(offerId, maxGpuSeconds, deadline, specHash);
    }

    function _createJob(uint256 offerId, uint256 maxGpuSeconds, uint256 deadline, bytes32 specHash)
        private
        whenNotPaused
        returns (uint256 jobId)
    {
        if (maxGpuSeconds == 0 || maxGpuSeconds > type(uint32).max) revert JobEscrowInvalidMaxGpuSeconds(maxGpuSeconds);
        uint256 latest = block.timestamp + MAX_JOB_DURATION;
        if (deadline <= block.timestamp || deadline > latest) revert JobEscrowInvalidDeadline(deadline, block.timestamp, latest);
        IProviderStaking.JobTerms memory terms = _staking.jobTerms(offerId);
        Params memory p = _params;

        // Safe from overflow: price < 2^64 and maxGpuSeconds < 2^32.
        uint256 deposit = uint256(terms.pricePerGpuSecond) * maxGpuSeconds;
        uint256 collateral = _collateral(deposit, p.collateralBps);
        ProviderBook storage book = _books[terms.provider];
        uint256 locked = book.locked;
        uint256 free = terms.bonded > locked ? terms.bonded - locked : 0;
        if (collateral > free) revert JobEscrowInsufficientFreeStake(terms.provider, free, collateral);
        // Safe: locked + collateral <= bonded < 2^96.
        book.locked = uint96(locked + collateral);

        jobId = ++_jobCount;
        uint256 acceptBy = Math.min(block.timestamp + p.acceptWindow, deadline);
        _storeCore(
            jobId,
            JobCore({
                client: msg.sender,
                status: JobStatus.Open,
                gpuCount: terms.gpuCount,
                collateralBps: p.collateralBps,
                stamp: uint32(acceptBy),
                limit: uint32(deadline)
            })
        );
        _jobTerms[jobId] =
            JobTermsSlot({provider: terms.provider, price: terms.pricePerGpuSecond, maxGpuSeconds: uint32(maxGpuSeconds)});
        _jobMeta[jobId] = JobMeta({offerId: uint64(offerId), originalMaxGpuSeconds: uint32(maxGpuSeconds), disputeBond: 0});
        _specHash[jobId] = specHash;
        _emitCreated(jobId, offerId, specHash, collateral);
        _token.safeTransferFrom(msg.sender, address(this), deposit);
    }

    function _emitCreated(uint256 jobId, uint256 offerId, bytes32 specHash, uint256 collateral) private {
        JobCore memory c = _jobCore[jobId];
        JobTermsSlot memory t = _jobTerms[jobId];
        emit JobCreated(
            jobId, c.client, t.provider, offerId, t.price, t.maxGpuSeconds, c.limit, c.stamp, specHash, collateral
        );
    }

    /// @inheritdoc IJobEscrow
    function acceptJob(uint256 jobId) external whenNotPaused {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Open);
        address provider = _jobTerms[jobId].provider;
        _checkProviderOrWorker(jobId, provider);
        if (block.timestamp > c.stamp) revert JobEscrowAcceptanceClosed(jobId, c.stamp, block.timestamp);
        // slither-disable-next-line unused-return unbonding stake does not count toward the minimum
        (uint256 bonded,,, bool jailed) = _staking.stakeOf(provider);
        if (jailed) revert JobEscrowProviderJailed(provider);
        // A provider that fell below the minimum stake since the job opened cannot take it on.
        uint256 minimum = _staking.minStake();
        if (bonded < minimum) revert JobEscrowBelowMinimumStake(provider, bonded, minimum);
        c.status = JobStatus.Running;
        c.stamp = uint32(block.timestamp);
        _storeCore(jobId, c);
        emit JobAccepted(jobId, provider, block.timestamp);
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
        bytes32 structHash = _receiptStructHash(receipt);
        _verifyAttestation(keccak256(abi.encodePacked(structHash)), attestation, cfg);
        // slither-disable-next-line uninitialized-local a memory struct starts zeroed; an all-zero Run is the intended empty accumulator
        Run memory run;
        run.domainSeparator = _domainSeparatorV4();
        run.timeoutGrace = cfg.timeoutGrace;
        _settleOne(receipt, structHash, workerSig, cfg.feeBps, run, true);
        _flush(run);
        _accrueFees(cfg, run.fees);
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
        run.timeoutGrace = cfg.timeoutGrace;
        for (uint256 i = 0; i < n; ++i) {
            if (_settleOne(receipts[i], hashes[i], workerSigs[i], cfg.feeBps, run, false)) {
                // Safe: bounded by the calldata array length.
                unchecked {
                    ++settled;
                }
            }
        }
        _flush(run);
        _accrueFees(cfg, run.fees);
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

    /// @return settled false when the job was not running and `strict` is off (the receipt is skipped)
    /// @dev The hot path of every settlement, so the two job slots are handled as raw words (layouts in
    /// JobCore and JobTermsSlot) instead of being unpacked into memory structs and packed again.
    function _settleOne(
        Receipt calldata r,
        bytes32 structHash,
        Signature calldata sig,
        uint256 feeBps,
        Run memory run,
        bool strict
    ) private returns (bool settled) {
        uint256 jobId = r.jobId;
        JobCore storage core = _jobCore[jobId];
        JobTermsSlot storage terms = _jobTerms[jobId];
        uint256 coreWord;
        uint256 termsWord;
        assembly ("memory-safe") {
            coreWord := sload(core.slot)
            termsWord := sload(terms.slot)
        }
        JobStatus status = JobStatus(uint8(coreWord >> 160));
        if (status != JobStatus.Running) {
            if (strict) _revertStatus(jobId, status, JobStatus.Running);
            emit SettlementSkipped(jobId, status);
            return false;
        }
        // From deadline + grace on, the job belongs to the timeout path; a late receipt must not race it.
        uint256 timeoutAt = (coreWord >> 224) + run.timeoutGrace;
        if (block.timestamp >= timeoutAt) revert JobEscrowSettlementTooLate(jobId, timeoutAt, block.timestamp);
        address provider = address(uint160(termsWord));
        if (r.provider != provider) revert JobEscrowWrongProvider(jobId, provider, r.provider);
        if (provider != run.provider) {
            _flush(run);
            run.provider = provider;
            run.worker = _staking.workerOf(provider);
        }
        _checkWorkerSignature(jobId, run.domainSeparator, structHash, sig, run.worker);
        _checkNumbers(r, uint32(coreWord >> 192), uint8(coreWord >> 168));
        uint256 maxGpuSeconds = uint32(termsWord >> 224);
        uint256 billed = r.outcome == uint8(Outcome.FailedProvider) ? 0 : Math.min(r.gpuSeconds, maxGpuSeconds);
        // Keep client, gpuCount and collateralBps; status := Settled, stamp := billed, limit := now.
        uint256 keep = (uint256(1) << 160) - 1 | (uint256(0xffffff) << 168);
        uint256 settledWord = (coreWord & keep) | (uint256(JobStatus.Settled) << 160) | (billed << 192)
            | (block.timestamp << 224);
        assembly ("memory-safe") {
            sstore(core.slot, settledWord)
        }
        _credit(r, uint64(termsWord >> 160), maxGpuSeconds, billed, uint16(coreWord >> 176), feeBps, run);
        return true;
    }

    function _checkWorkerSignature(
        uint256 jobId,
        bytes32 domainSep,
        bytes32 structHash,
        Signature calldata sig,
        address worker
    ) private view {
        address signer = _recover(_typedDigest(domainSep, structHash), sig);
        if (signer != worker || signer == address(0)) revert JobEscrowInvalidWorkerSignature(jobId, signer, worker);
    }

    function _checkNumbers(Receipt calldata r, uint256 acceptedAt, uint256 gpuCount) private view {
        if (r.startTime < acceptedAt || r.endTime < r.startTime || r.endTime > block.timestamp) {
            revert JobEscrowImpossibleTimes(r.jobId, r.startTime, r.endTime, acceptedAt, block.timestamp);
        }
        // Safe from overflow: endTime <= block.timestamp and gpuCount < 2^8.
        uint256 limit = (uint256(r.endTime - r.startTime) + METER_TOLERANCE_SECONDS) * gpuCount;
        if (r.gpuSeconds > limit) revert JobEscrowImpossibleGpuSeconds(r.jobId, r.gpuSeconds, limit);
        if (r.outcome > uint8(Outcome.FailedProvider)) revert JobEscrowInvalidOutcome(r.jobId, r.outcome);
    }

    function _credit(
        Receipt calldata r,
        uint256 price,
        uint256 maxGpuSeconds,
        uint256 billed,
        uint256 collateralBps,
        uint256 feeBps,
        Run memory run
    ) private {
        // Safe: price < 2^64 and billed <= maxGpuSeconds < 2^32, so paid < 2^96, and fee <= paid; every
        // sum is bounded by deposits this contract holds.
        unchecked {
            uint256 paid = billed * price;
            uint256 fee = paid * feeBps / BPS;
            run.earnings += paid - fee;
            run.fees += fee;
            run.unlock += _collateral(price * maxGpuSeconds, collateralBps);
            run.gpuSeconds += billed;
            if (r.outcome == uint8(Outcome.Completed)) ++run.completed;
            else ++run.failed;
            emit JobSettled(r.jobId, billed, paid - fee, fee, r.outcome);
        }
    }

    /// @dev Writes what a run of receipts owes its provider. Sums are done in 256 bits and narrowed with
    /// SafeCast: a batch whose total would not fit the packed fields reverts instead of losing tokens to
    /// truncation (the receipts can then settle in smaller batches, or after the provider withdraws).
    function _flush(Run memory run) private {
        if (run.provider == address(0)) return;
        ProviderBook storage b = _books[run.provider];
        (b.locked, b.earnings, b.gpuSecondsServed) = (
            SafeCast.toUint96(b.locked - run.unlock),
            SafeCast.toUint96(b.earnings + run.earnings),
            SafeCast.toUint64(b.gpuSecondsServed + run.gpuSeconds)
        );
        ProviderStats storage s = _stats[run.provider];
        (s.completed, s.failed, s.lastSettledAt) = (
            SafeCast.toUint48(s.completed + run.completed),
            SafeCast.toUint48(s.failed + run.failed),
            uint32(block.timestamp)
        );
        run.earnings = 0;
        run.unlock = 0;
        run.gpuSeconds = 0;
        run.completed = 0;
        run.failed = 0;
    }

    function _accrueFees(SettleConfig memory cfg, uint256 fees) private {
        if (fees == 0) return;
        cfg.accruedFees = SafeCast.toUint128(cfg.accruedFees + fees);
        _config = cfg;
    }

    // -------------------------------------------------------- after the fact

    /// @inheritdoc IJobEscrow
    function claimTimeout(uint256 jobId) external nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Running);
        uint256 claimableAt = uint256(c.limit) + _config.timeoutGrace;
        if (block.timestamp < claimableAt) revert JobEscrowTimeoutNotReached(jobId, claimableAt, block.timestamp);
        JobTermsSlot memory t = _jobTerms[jobId];
        c.status = JobStatus.TimedOut;
        _storeCore(jobId, c);
        uint256 deposit = uint256(t.price) * t.maxGpuSeconds;
        uint256 collateral = _collateral(deposit, c.collateralBps);
        _books[t.provider].locked -= uint96(collateral);
        ++_stats[t.provider].timedOut;
        uint256 slashed = _staking.slash(t.provider, collateral * _params.timeoutSlashBps / BPS, c.client);
        emit JobTimedOut(jobId, deposit, slashed);
        _token.safeTransfer(c.client, deposit);
    }

    /// @inheritdoc IJobEscrow
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
            emit RefundClaimed(jobId, c.client, refund);
            _token.safeTransfer(c.client, refund);
        }
        if (total == 0) revert JobEscrowNothingToClaim(msg.sender);
    }

    /// @inheritdoc IJobEscrow
    function dispute(uint256 jobId, bytes32 reasonHash) external nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Settled);
        if (msg.sender != c.client) revert JobEscrowNotClient(jobId, msg.sender, c.client);
        Params memory p = _params;
        uint256 closesAt = uint256(c.limit) + _config.disputeWindow;
        if (block.timestamp > closesAt) revert JobEscrowDisputeWindowClosed(jobId, closesAt, block.timestamp);
        c.status = JobStatus.Disputed;
        _storeCore(jobId, c);
        _jobMeta[jobId].disputeBond = p.disputeBond;
        ++_stats[_jobTerms[jobId].provider].openDisputes;
        emit JobDisputed(jobId, msg.sender, p.disputeBond, reasonHash);
        if (p.disputeBond != 0) _token.safeTransferFrom(msg.sender, address(this), p.disputeBond);
    }

    /// @inheritdoc IJobEscrow
    function resolveDispute(uint256 jobId, bool upheld) external onlyArbiter nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Disputed);
        JobTermsSlot memory t = _jobTerms[jobId];
        JobMeta memory m = _jobMeta[jobId];
        uint256 bond = m.disputeBond;
        ProviderStats storage s = _stats[t.provider];
        --s.openDisputes;
        if (!upheld) {
            c.status = JobStatus.DisputeRejected;
            _storeCore(jobId, c);
            emit DisputeResolved(jobId, false, 0, 0);
            if (bond != 0) _token.safeTransfer(t.provider, bond);
            return;
        }
        c.status = JobStatus.DisputeUpheld;
        _storeCore(jobId, c);
        ++s.disputesLost;
        // The slash is sized by the job (its deposit); the client is made whole for what it paid and the rest
        // of the slash goes to the treasury.
        uint256 paid = uint256(c.stamp) * t.price;
        uint256 deposit = uint256(t.price) * m.originalMaxGpuSeconds;
        (uint256 slashed, uint256 compensation) = _penalize(t.provider, deposit * _params.disputeSlashBps / BPS, paid);
        emit DisputeResolved(jobId, true, slashed, compensation);
        if (compensation + bond != 0) _token.safeTransfer(c.client, compensation + bond);
    }

    /// @inheritdoc IJobEscrow
    function reportFraud(uint256 jobId, bytes32 evidenceHash) external onlyArbiter nonReentrant {
        JobCore memory c = _coreWithStatus(jobId, JobStatus.Running);
        JobTermsSlot memory t = _jobTerms[jobId];
        c.status = JobStatus.Fraud;
        _storeCore(jobId, c);
        uint256 deposit = uint256(t.price) * t.maxGpuSeconds;
        _books[t.provider].locked -= uint96(_collateral(deposit, c.collateralBps));
        ++_stats[t.provider].disputesLost;
        (uint256 slashed, uint256 compensation) = _penalize(t.provider, deposit * _params.disputeSlashBps / BPS, deposit);
        emit FraudReported(jobId, evidenceHash, slashed, compensation);
        _token.safeTransfer(c.client, deposit + compensation);
    }

    /// @dev Slash into this contract, keep up to `cap` for the client and credit the rest to the treasury; jail.
    function _penalize(address provider, uint256 amount, uint256 cap)
        private
        returns (uint256 slashed, uint256 compensation)
    {
        slashed = _staking.slash(provider, amount, address(this));
        compensation = Math.min(slashed, cap);
        SettleConfig memory cfg = _config;
        _accrueFees(cfg, slashed - compensation);
        _staking.jail(provider);
    }

    /// @inheritdoc IJobEscrow
    function withdrawEarnings() external nonReentrant returns (uint256 amount) {
        ProviderBook storage b = _books[msg.sender];
        amount = b.earnings;
        if (amount == 0) revert JobEscrowNothingToClaim(msg.sender);
        b.earnings = 0;
        emit EarningsWithdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IJobEscrow
    function withdrawFees() external nonReentrant returns (uint256 amount) {
        amount = _config.accruedFees;
        if (amount == 0) revert JobEscrowNothingToClaim(_treasury);
        _config.accruedFees = 0;
        emit FeesWithdrawn(_treasury, amount);
        _token.safeTransfer(_treasury, amount);
    }

    // ------------------------------------------------------------- governance

    /// @inheritdoc IJobEscrow
    function setOracleSet(address[] calldata oracles, uint8 threshold) external onlyGovernance {
        _setOracleSet(oracles, threshold);
    }

    function _setOracleSet(address[] memory oracles, uint8 threshold) private {
        uint256 n = oracles.length;
        if (n == 0 || n > MAX_ORACLES || threshold == 0 || threshold > n) revert JobEscrowInvalidOracleSet(n, threshold);
        SettleConfig memory cfg = _config;
        uint32 epoch = cfg.oracleEpoch + 1;
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

    /// @inheritdoc IJobEscrow
    function setParameter(uint8 param, uint256 value) external onlyGovernance {
        _setParameter(param, value);
    }

    function _setParameter(uint8 param, uint256 value) private {
        if (param >= PARAM_COUNT) revert JobEscrowParameterOutOfRange(param, value, 0, 0);
        (uint256 min, uint256 max) = _bounds(param);
        if (param == PARAM_DISPUTE_WINDOW) {
            // Disputes must close before unbonding stake can leave.
            uint256 unbonding = _staking.unbondingPeriod();
            if (unbonding <= max) max = unbonding - 1;
        }
        if (value < min || value > max) revert JobEscrowParameterOutOfRange(param, value, min, max);
        uint256 previous = _parameters()[param];
        // Each value fits its field: every cap above is below the field's maximum.
        if (param == PARAM_FEE_BPS) _config.feeBps = uint16(value);
        else if (param == PARAM_COLLATERAL_BPS) _params.collateralBps = uint16(value);
        else if (param == PARAM_TIMEOUT_SLASH_BPS) _params.timeoutSlashBps = uint16(value);
        else if (param == PARAM_DISPUTE_SLASH_BPS) _params.disputeSlashBps = uint16(value);
        else if (param == PARAM_DISPUTE_WINDOW) _config.disputeWindow = uint32(value);
        else if (param == PARAM_ACCEPT_WINDOW) _params.acceptWindow = uint32(value);
        else if (param == PARAM_TIMEOUT_GRACE) _config.timeoutGrace = uint32(value);
        else _params.disputeBond = uint96(value);
        emit ParameterSet(param, previous, value);
    }

    /// @inheritdoc IJobEscrow
    function setRole(uint8 role, address account) external onlyGovernance {
        _setRole(role, account);
    }

    function _setRole(uint8 role, address account) private {
        if (account == address(0)) revert ZeroAddress();
        if (role > ROLE_ARBITER) revert JobEscrowUnknownRole(role);
        address previous;
        if (role == ROLE_TREASURY) (previous, _treasury) = (_treasury, account);
        else if (role == ROLE_GUARDIAN) (previous, _guardian) = (_guardian, account);
        else (previous, _arbiter) = (_arbiter, account);
        emit RoleSet(role, previous, account);
    }

    /// @inheritdoc IJobEscrow
    function pause() external {
        if (msg.sender != _guardian) revert Unauthorized(msg.sender, "guardian");
        _pause();
    }

    /// @inheritdoc IJobEscrow
    function unpause() external {
        if (msg.sender != _guardian && msg.sender != governance()) revert Unauthorized(msg.sender, "guardian");
        _unpause();
    }

    // ---------------------------------------------------------------- helpers

    function _collateral(uint256 deposit, uint256 collateralBps) private pure returns (uint256) {
        // Rounded up, so even the smallest job locks some collateral when the fraction is non-zero.
        // Safe from overflow: deposit < 2^96 and collateralBps <= 10_000 < 2^14.
        unchecked {
            return (deposit * collateralBps + BPS - 1) / BPS;
        }
    }

    /// @dev One SSTORE for the whole slot: assigning the struct field by field costs a read-modify-write each.
    /// The layout follows JobCore's declaration order, lowest bits first.
    function _storeCore(uint256 jobId, JobCore memory c) private {
        uint256 word = uint256(uint160(c.client)) | (uint256(c.status) << 160) | (uint256(c.gpuCount) << 168)
            | (uint256(c.collateralBps) << 176) | (uint256(c.stamp) << 192) | (uint256(c.limit) << 224);
        JobCore storage ref = _jobCore[jobId];
        assembly ("memory-safe") {
            sstore(ref.slot, word)
        }
    }

    function _coreWithStatus(uint256 jobId, JobStatus expected) private view returns (JobCore memory c) {
        c = _jobCore[jobId];
        if (c.status != expected) _revertStatus(jobId, c.status, expected);
    }

    function _revertStatus(uint256 jobId, JobStatus status, JobStatus expected) private pure {
        if (status == JobStatus.None) revert JobEscrowUnknownJob(jobId);
        revert JobEscrowWrongStatus(jobId, status, expected);
    }

    function _isSettled(JobStatus s) private pure returns (bool) {
        return s == JobStatus.Settled || s == JobStatus.Disputed || s == JobStatus.DisputeUpheld
            || s == JobStatus.DisputeRejected;
    }

    function _checkProviderOrWorker(uint256 jobId, address provider) private view {
        if (msg.sender != provider && msg.sender != _staking.workerOf(provider)) {
            revert JobEscrowNotProviderOrWorker(jobId, msg.sender);
        }
    }

    function _parameters() private view returns (uint256[8] memory v) {
        Params memory p = _params;
        v[PARAM_FEE_BPS] = _config.feeBps;
        v[PARAM_COLLATERAL_BPS] = p.collateralBps;
        v[PARAM_TIMEOUT_SLASH_BPS] = p.timeoutSlashBps;
        v[PARAM_DISPUTE_SLASH_BPS] = p.disputeSlashBps;
        v[PARAM_DISPUTE_WINDOW] = _config.disputeWindow;
        v[PARAM_ACCEPT_WINDOW] = p.acceptWindow;
        v[PARAM_TIMEOUT_GRACE] = _config.timeoutGrace;
        v[PARAM_DISPUTE_BOND] = p.disputeBond;
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
        v.collateral = _collateral(deposit, c.collateralBps);
        v.specHash = _specHash[jobId];
        v.disputeBond = m.disputeBond;
        if (c.status == JobStatus.Open) {
            v.acceptBy = c.stamp;
            v.deadline = c.limit;
        } else if (c.status == JobStatus.Running) {
            v.acceptedAt = c.stamp;
            v.deadline = c.limit;
        } else if (_isSettled(c.status)) {
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
        r.disputesLost = s.disputesLost;
        r.openDisputes = s.openDisputes;
        r.totalSlashed = _staking.totalSlashedOf(provider);
    }

    /// @inheritdoc IJobEscrow
    function unstakeBlockers(address provider)
        external
        view
        returns (uint256 locked, uint256 openDisputes, uint256 disputableUntil)
    {
        ProviderStats memory s = _stats[provider];
        // The window is read now, not at settlement: dispute() uses the current window too.
        disputableUntil = s.lastSettledAt == 0 ? 0 : uint256(s.lastSettledAt) + _config.disputeWindow;
        return (_books[provider].locked, s.openDisputes, disputableUntil);
    }

    /// @inheritdoc IJobEscrow
    function parameters() external view returns (uint256[8] memory) {
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
