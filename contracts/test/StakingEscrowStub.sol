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

    /// @notice IJobEscrow.disputeWindow, read by ProviderStaking.setEscrow and setParameter.
    function disputeWindow() external view returns (uint256) {
        return _disputeWindow;
    }

    /// @notice IJobEscrow.unstakeBlockers: nothing blocks anyone.
    function unstakeBlockers(address)
        external
        pure
        returns (uint256 locked, uint256 openDisputes, uint256 disputableUntil, uint256 frozen)
    {
        return (0, 0, 0, 0);
    }
}
