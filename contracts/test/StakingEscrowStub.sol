// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ContractWallet} from "./ContractWallet.sol";

/// @title StakingEscrowStub (tests only, never deployed outside a local chain)
/// @notice Stands in for the JobEscrow of a ProviderStaking, so a test can call `slash` with the escrow's own
/// authority, from the outside and from inside a hostile token's hook. It reports no blockers and the
/// dispute window it was given.
contract StakingEscrowStub is ContractWallet {
    uint256 private immutable _disputeWindow;

    constructor(uint256 disputeWindow) {
        _disputeWindow = disputeWindow;
    }

    /// @notice IJobEscrow.parameters, read by ProviderStaking.setEscrow: only the dispute window is set.
    function parameters() external view returns (uint256[8] memory p) {
        p[4] = _disputeWindow;
    }

    /// @notice IJobEscrow.unstakeBlockers: nothing blocks anyone.
    function unstakeBlockers(address) external pure returns (uint256 locked, uint256 openDisputes, uint256 disputableUntil) {
        return (0, 0, 0);
    }
}
