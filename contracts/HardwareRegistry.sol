// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IHardwareRegistry} from "../interfaces/IHardwareRegistry.sol";
import {IJobEscrow, IJobEscrowTypes} from "../interfaces/IJobEscrow.sol";
import {IProviderStaking} from "../interfaces/IProviderStaking.sol";

/// @title HardwareRegistry
/// @notice See {IHardwareRegistry}.
/// @dev A contract of its own beside the escrows: it holds no tokens and moves none, so it needs no pause, no
/// governance and no reentrancy guard. The oracle set is read from the job escrow on every record, so a rotation
/// there retires the old keys here at once.
contract HardwareRegistry is IHardwareRegistry, EIP712 {
    bytes32 public constant HARDWARE_CHECK_TYPEHASH = keccak256(
        "HardwareCheck(uint256 offerId,bytes32 challengeId,uint64 checkedAt,bool passed,uint8 gpuCount,uint32 vramGb,uint32 elapsedMs,bytes32 resultRoot,uint64 oracleEpoch)"
    );

    /// @inheritdoc IHardwareRegistry
    uint256 public constant MAX_CHECK_AGE = 1 days;

    IJobEscrow private immutable _jobs;
    IProviderStaking private immutable _staking;

    mapping(uint256 offerId => HardwareRecord) private _records;

    constructor(IJobEscrow jobEscrow_, IProviderStaking staking_) EIP712("gpusettle HardwareRegistry", "1") {
        if (address(jobEscrow_) == address(0) || address(staking_) == address(0)) revert HardwareRegistryZeroAddress();
        _jobs = jobEscrow_;
        _staking = staking_;
    }

    /// @inheritdoc IHardwareRegistry
    function recordCheck(HardwareCheck calldata check, IJobEscrowTypes.Signature[] calldata attestation) external {
        uint256 offerId = check.offerId;
        uint256 offerCount = _staking.offerCount();
        if (offerId == 0 || offerId > offerCount) revert HardwareRegistryUnknownOffer(offerId, offerCount);
        if (check.gpuCount == 0 || check.vramGb == 0) {
            revert HardwareRegistryEmptyCheck(offerId, check.gpuCount, check.vramGb);
        }
        uint64 at = check.checkedAt;
        if (at > block.timestamp || at + MAX_CHECK_AGE < block.timestamp) {
            revert HardwareRegistryCheckTimeOutOfRange(offerId, at, block.timestamp, MAX_CHECK_AGE);
        }
        uint64 latest = _records[offerId].checkedAt;
        // Strictly newer: the same check cannot land twice, and an old pass cannot overwrite a newer failure.
        if (at <= latest) revert HardwareRegistryStaleCheck(offerId, at, latest);
        uint64 epoch = _verifyAttestation(check, attestation);
        _records[offerId] = HardwareRecord({
            checkedAt: at,
            passed: check.passed,
            gpuCount: check.gpuCount,
            vramGb: check.vramGb,
            elapsedMs: check.elapsedMs,
            oracleEpoch: epoch,
            challengeId: check.challengeId,
            resultRoot: check.resultRoot
        });
        // slither-disable-next-line unused-return only the provider is needed
        (address provider,) = _staking.offerProvider(offerId);
        emit HardwareChecked(
            offerId,
            provider,
            check.challengeId,
            check.passed,
            check.gpuCount,
            check.vramGb,
            at,
            check.elapsedMs,
            check.resultRoot,
            epoch
        );
    }

    /// @inheritdoc IHardwareRegistry
    function latestCheck(uint256 offerId) external view returns (HardwareRecord memory) {
        return _records[offerId];
    }

    /// @inheritdoc IHardwareRegistry
    function isVerified(uint256 offerId, uint256 maxAge) external view returns (bool) {
        HardwareRecord memory r = _records[offerId];
        if (!r.passed) return false;
        if (maxAge != 0 && block.timestamp > r.checkedAt + maxAge) return false;
        IProviderStaking.Offer memory o = _staking.offer(offerId);
        // An offer raised after its check (more GPUs, more VRAM) claims what no check proved.
        return r.gpuCount >= o.gpuCount && r.vramGb >= o.vramGb;
    }

    /// @inheritdoc IHardwareRegistry
    function checkDigest(HardwareCheck calldata check, uint64 epoch) external view returns (bytes32) {
        return _digest(check, epoch);
    }

    /// @inheritdoc IHardwareRegistry
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IHardwareRegistry
    function jobEscrow() external view returns (address) {
        return address(_jobs);
    }

    /// @inheritdoc IHardwareRegistry
    function staking() external view returns (address) {
        return address(_staking);
    }

    function _digest(HardwareCheck calldata c, uint64 epoch) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    HARDWARE_CHECK_TYPEHASH,
                    c.offerId,
                    c.challengeId,
                    c.checkedAt,
                    c.passed,
                    c.gpuCount,
                    c.vramGb,
                    c.elapsedMs,
                    c.resultRoot,
                    epoch
                )
            )
        );
    }

    /// @dev The job escrow's rule: threshold-many distinct members of the current set, ascending, low s.
    /// @return epoch the oracle set's epoch the signatures were checked against
    function _verifyAttestation(HardwareCheck calldata check, IJobEscrowTypes.Signature[] calldata sigs)
        private
        view
        returns (uint64 epoch)
    {
        address[] memory oracles;
        uint8 threshold;
        (oracles, threshold, epoch) = _jobs.oracleSet();
        uint256 n = sigs.length;
        if (n < threshold) revert HardwareRegistryAttestationBelowThreshold(n, threshold);
        bytes32 digest = _digest(check, epoch);
        address previous = address(0);
        for (uint256 i = 0; i < n; ++i) {
            address signer = _recover(digest, sigs[i]);
            if (signer == address(0)) revert HardwareRegistryMalformedSignature(i);
            if (signer <= previous) revert HardwareRegistryOracleSignersNotSorted(i, signer, previous);
            bool member = false;
            for (uint256 j = 0; j < oracles.length; ++j) {
                if (oracles[j] == signer) {
                    member = true;
                    break;
                }
            }
            if (!member) revert HardwareRegistryNotOracle(signer, epoch);
            previous = signer;
        }
    }

    /// @dev EIP-2098 compact recovery; zero for anything but a canonical low-s signature (as the escrows').
    function _recover(bytes32 digest, IJobEscrowTypes.Signature calldata sig) private view returns (address signer) {
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
}
