// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IJobEscrowTypes} from "./IJobEscrow.sol";

/// @title Hardware registry for gpusettle: what the oracle set last proved about each offer's GPUs
/// @notice The oracles challenge a provider's worker with seeded matrix work sized from the offer's claimed VRAM,
/// check the answer (a Merkle root over the product's rows, rows sampled after the root was committed, a
/// Freivalds check) and the time it took, and record the outcome here, per offer, attested M-of-N by the job
/// escrow's oracle set. Clients and the index read the latest check; `isVerified` says whether it passed and still
/// covers the offer's current GPU count and VRAM (an offer updated upward after its check is not verified).
/// @dev Checks are EIP-712 typed data under the domain
/// `{name: "gpusettle HardwareRegistry", version: "1", chainId, verifyingContract: this}`:
///   HardwareCheck(uint256 offerId,bytes32 challengeId,uint64 checkedAt,bool passed,uint8 gpuCount,uint32 vramGb,uint32 elapsedMs,bytes32 resultRoot,uint64 oracleEpoch)
/// signed by oracle keys of the job escrow's current set (`IJobEscrow.oracleSet()`), at least its threshold of them,
/// as EIP-2098 compact `(r, vs)` signatures with a low s, signers in strictly ascending address order.
interface IHardwareRegistry {
    /// @notice One check, as the oracles sign it.
    struct HardwareCheck {
        uint256 offerId;
        bytes32 challengeId; // the challenge's seed commitment: which work was asked
        uint64 checkedAt; // when the oracle finished checking the answer (unix seconds)
        bool passed; // the answer was right and in the time band
        uint8 gpuCount; // GPUs the check covered
        uint32 vramGb; // VRAM per GPU the challenge was sized for
        uint32 elapsedMs; // the worker's time for the work, as the oracle measured it
        bytes32 resultRoot; // Merkle root over the product's rows the worker committed to
    }

    /// @notice The latest recorded check of an offer (all zero before the first).
    struct HardwareRecord {
        uint64 checkedAt;
        bool passed;
        uint8 gpuCount;
        uint32 vramGb;
        uint32 elapsedMs;
        uint64 oracleEpoch; // the oracle set's epoch that attested it
        bytes32 challengeId;
        bytes32 resultRoot;
    }

    /// @notice No offer with this id exists in the staking contract.
    error HardwareRegistryUnknownOffer(uint256 offerId, uint256 offerCount);
    /// @notice The check is not newer than the offer's latest record (a replay, or an older check posted late).
    error HardwareRegistryStaleCheck(uint256 offerId, uint64 checkedAt, uint64 latestCheckedAt);
    /// @notice The check's time is in the future, or older than MAX_CHECK_AGE.
    error HardwareRegistryCheckTimeOutOfRange(uint256 offerId, uint64 checkedAt, uint256 nowTs, uint256 maxAge);
    /// @notice A check must cover at least one GPU with some VRAM.
    error HardwareRegistryEmptyCheck(uint256 offerId, uint8 gpuCount, uint32 vramGb);
    /// @notice Fewer oracle signatures than the threshold.
    error HardwareRegistryAttestationBelowThreshold(uint256 have, uint256 need);
    /// @notice A signature is malformed or malleable (high s).
    error HardwareRegistryMalformedSignature(uint256 index);
    /// @notice Oracle signers must be in strictly ascending address order (which also forbids duplicates).
    error HardwareRegistryOracleSignersNotSorted(uint256 index, address signer, address previous);
    /// @notice The signer is not in the current oracle set (a signature for another chain, contract, check or
    /// epoch recovers to an unrelated address, so it lands here too).
    error HardwareRegistryNotOracle(address signer, uint64 epoch);
    /// @notice A zero address was given where a contract is needed.
    error HardwareRegistryZeroAddress();

    /// @notice A check was recorded for `offerId`; carries everything the index keeps.
    event HardwareChecked(
        uint256 indexed offerId,
        address indexed provider,
        bytes32 challengeId,
        bool passed,
        uint8 gpuCount,
        uint32 vramGb,
        uint64 checkedAt,
        uint32 elapsedMs,
        bytes32 resultRoot,
        uint64 oracleEpoch
    );

    /// @notice Record a check attested by at least the threshold of the current oracle set. Anyone may submit it.
    function recordCheck(HardwareCheck calldata check, IJobEscrowTypes.Signature[] calldata attestation) external;

    /// @notice The latest check of `offerId` (zero before the first).
    function latestCheck(uint256 offerId) external view returns (HardwareRecord memory);

    /// @notice Whether `offerId`'s latest check passed, covers the offer's current GPU count and VRAM, and (when
    /// `maxAge` is not zero) is at most `maxAge` seconds old.
    function isVerified(uint256 offerId, uint256 maxAge) external view returns (bool);

    /// @notice The EIP-712 digest the oracles sign for `check` under `epoch`.
    function checkDigest(HardwareCheck calldata check, uint64 epoch) external view returns (bytes32);

    /// @notice The EIP-712 domain separator.
    function domainSeparator() external view returns (bytes32);

    /// @notice The job escrow whose oracle set attests checks.
    function jobEscrow() external view returns (address);

    /// @notice The staking contract that holds the offers.
    function staking() external view returns (address);

    /// @notice The oldest a check may be when it is recorded, in seconds.
    function MAX_CHECK_AGE() external view returns (uint256);
}
