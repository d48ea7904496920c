// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IJobEscrowTypes} from "../../interfaces/IJobEscrow.sol";

/// @dev Job slot 1, written by every state change. `stamp` and `limit` change meaning with the status:
/// Open: acceptBy and deadline; Running: acceptedAt and deadline; after settlement: billed GPU-seconds
/// and settledAt. Timestamps fit 32 bits until 2106. Its bit layout is JobSlots' CORE_* offsets.
struct JobCore {
    address client;
    IJobEscrowTypes.JobStatus status;
    uint8 gpuCount;
    uint16 collateralBps;
    uint32 stamp;
    uint32 limit;
}

/// @dev Job slot 2, read by settlement. maxGpuSeconds drops to the billed seconds once the refund is claimed.
/// Its bit layout is JobSlots' TERMS_* offsets.
struct JobTermsSlot {
    address provider;
    uint64 price;
    uint32 maxGpuSeconds;
}

/// @title JobSlots
/// @notice The one definition of how the job escrow's two hot job slots are laid out as 256-bit words. The
/// settlement path reads and writes them as whole words (one SLOAD and one SSTORE each instead of a
/// read-modify-write per field); every shift it uses comes from here, and `packCore`/`packTerms` build the words the
/// opening and cold paths store. tests/unit/JobEscrow/test_job_slots.py checks, field by field at the extremes, that
/// these words are exactly what Solidity itself stores for the structs above, and that they round-trip: reordering
/// or resizing a struct field without this library fails there instead of corrupting state.
/// @dev Offsets count from the lowest bit, in the structs' declaration order (Solidity packs the same way).
library JobSlots {
    // JobCore: client 160 | status 8 | gpuCount 8 | collateralBps 16 | stamp 32 | limit 32
    uint256 internal constant CORE_STATUS = 160;
    uint256 internal constant CORE_GPU_COUNT = 168;
    uint256 internal constant CORE_COLLATERAL_BPS = 176;
    uint256 internal constant CORE_STAMP = 192;
    uint256 internal constant CORE_LIMIT = 224;
    /// @dev The bits settlement keeps of a running job's word: client, gpuCount and collateralBps.
    uint256 internal constant CORE_KEEP_AT_SETTLEMENT = (uint256(1) << 160) - 1 | (uint256(0xffffff) << CORE_GPU_COUNT);

    // JobTermsSlot: provider 160 | price 64 | maxGpuSeconds 32
    uint256 internal constant TERMS_PRICE = 160;
    uint256 internal constant TERMS_MAX_GPU_SECONDS = 224;

    function packCore(JobCore memory c) internal pure returns (uint256) {
        return uint256(uint160(c.client)) | (uint256(c.status) << CORE_STATUS) | (uint256(c.gpuCount) << CORE_GPU_COUNT)
            | (uint256(c.collateralBps) << CORE_COLLATERAL_BPS) | (uint256(c.stamp) << CORE_STAMP)
            | (uint256(c.limit) << CORE_LIMIT);
    }

    function unpackCore(uint256 word) internal pure returns (JobCore memory c) {
        c.client = address(uint160(word));
        c.status = status(word);
        c.gpuCount = uint8(word >> CORE_GPU_COUNT);
        c.collateralBps = uint16(word >> CORE_COLLATERAL_BPS);
        c.stamp = uint32(word >> CORE_STAMP);
        c.limit = uint32(word >> CORE_LIMIT);
    }

    function packTerms(JobTermsSlot memory t) internal pure returns (uint256) {
        return uint256(uint160(t.provider)) | (uint256(t.price) << TERMS_PRICE)
            | (uint256(t.maxGpuSeconds) << TERMS_MAX_GPU_SECONDS);
    }

    function unpackTerms(uint256 word) internal pure returns (JobTermsSlot memory t) {
        t.provider = address(uint160(word));
        t.price = uint64(word >> TERMS_PRICE);
        t.maxGpuSeconds = uint32(word >> TERMS_MAX_GPU_SECONDS);
    }

    function status(uint256 coreWord) internal pure returns (IJobEscrowTypes.JobStatus) {
        return IJobEscrowTypes.JobStatus(uint8(coreWord >> CORE_STATUS));
    }

    /// @dev A running job's word once settled: status Settled, stamp the billed GPU-seconds (< 2^32, the job's
    /// maxGpuSeconds bounds it), limit the settlement time (< 2^32 until 2106); client, gpuCount and collateralBps
    /// kept.
    function settledCore(uint256 coreWord, uint256 billed, uint256 settledAt) internal pure returns (uint256) {
        return (coreWord & CORE_KEEP_AT_SETTLEMENT) | (uint256(IJobEscrowTypes.JobStatus.Settled) << CORE_STATUS)
            | (billed << CORE_STAMP) | (settledAt << CORE_LIMIT);
    }
}
