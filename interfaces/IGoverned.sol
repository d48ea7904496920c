// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Governance handoff shared by the gpusettle contracts
/// @notice One governance address (a multisig or timelock in production) owns each contract. Handing it over
/// takes two steps, so a typo cannot lock governance out.
interface IGoverned {
    /// @notice `caller` lacks the role `role` ("governance", "guardian", "arbiter" or "escrow").
    error Unauthorized(address caller, bytes32 role);
    /// @notice An address argument was the zero address.
    error ZeroAddress();

    /// @notice `next` may now accept governance from `current`.
    event GovernanceTransferStarted(address indexed current, address indexed next);
    /// @notice Governance passed from `previous` to `current`.
    event GovernanceTransferred(address indexed previous, address indexed current);

    /// @notice Governance: offer governance to `next`, who must call acceptGovernance.
    function transferGovernance(address next) external;

    /// @notice The pending governance takes over.
    function acceptGovernance() external;

    /// @notice The current governance.
    function governance() external view returns (address);

    /// @notice The governance that may accept, if a handoff is under way.
    function pendingGovernance() external view returns (address);
}
