// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {JobCore, JobSlots, JobTermsSlot} from "../escrow/JobSlots.sol";

/// @dev Test only: exposes JobSlots, and what Solidity itself stores for JobCore and JobTermsSlot, so a test can hold
/// the hand-written word layout to the compiler's (tests/unit/JobEscrow/test_job_slots.py).
contract JobSlotsHarness {
    mapping(uint256 => JobCore) private _core;
    mapping(uint256 => JobTermsSlot) private _terms;

    /// @return word the slot Solidity wrote for `c` by plain struct assignment
    function compilerCore(JobCore calldata c) external returns (uint256 word) {
        _core[0] = c;
        JobCore storage ref = _core[0];
        assembly ("memory-safe") {
            word := sload(ref.slot)
        }
    }

    /// @return word the slot Solidity wrote for `t` by plain struct assignment
    function compilerTerms(JobTermsSlot calldata t) external returns (uint256 word) {
        _terms[0] = t;
        JobTermsSlot storage ref = _terms[0];
        assembly ("memory-safe") {
            word := sload(ref.slot)
        }
    }

    /// @return c what Solidity reads back as a struct from the raw `word` stored in the slot
    function compilerReadCore(uint256 word) external returns (JobCore memory c) {
        JobCore storage ref = _core[1];
        assembly ("memory-safe") {
            sstore(ref.slot, word)
        }
        c = _core[1];
    }

    /// @return t what Solidity reads back as a struct from the raw `word` stored in the slot
    function compilerReadTerms(uint256 word) external returns (JobTermsSlot memory t) {
        JobTermsSlot storage ref = _terms[1];
        assembly ("memory-safe") {
            sstore(ref.slot, word)
        }
        t = _terms[1];
    }

    function packCore(JobCore calldata c) external pure returns (uint256) {
        return JobSlots.packCore(c);
    }

    function unpackCore(uint256 word) external pure returns (JobCore memory) {
        return JobSlots.unpackCore(word);
    }

    function packTerms(JobTermsSlot calldata t) external pure returns (uint256) {
        return JobSlots.packTerms(t);
    }

    function unpackTerms(uint256 word) external pure returns (JobTermsSlot memory) {
        return JobSlots.unpackTerms(word);
    }

    /// @return the word and its fields as the settlement path reads them (status, gpuCount, collateralBps, stamp,
    /// limit), through the library's offsets
    function hotCoreFields(uint256 word) external pure returns (uint8, uint8, uint16, uint32, uint32) {
        return (
            uint8(JobSlots.status(word)),
            uint8(word >> JobSlots.CORE_GPU_COUNT),
            uint16(word >> JobSlots.CORE_COLLATERAL_BPS),
            uint32(word >> JobSlots.CORE_STAMP),
            uint32(word >> JobSlots.CORE_LIMIT)
        );
    }

    function hotTermsFields(uint256 word) external pure returns (address, uint64, uint32) {
        return (
            address(uint160(word)),
            uint64(word >> JobSlots.TERMS_PRICE),
            uint32(word >> JobSlots.TERMS_MAX_GPU_SECONDS)
        );
    }

    function settledCore(uint256 word, uint256 billed, uint256 settledAt) external pure returns (uint256) {
        return JobSlots.settledCore(word, billed, settledAt);
    }
}
