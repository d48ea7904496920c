// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IGoverned} from "../../interfaces/IGoverned.sol";

/// @title Governed
/// @notice See {IGoverned}.
abstract contract Governed is IGoverned {
    address private _governance;
    address private _pendingGovernance;

    constructor(address governance_) {
        if (governance_ == address(0)) revert ZeroAddress();
        _governance = governance_;
        emit GovernanceTransferred(address(0), governance_);
    }

    modifier onlyGovernance() {
        if (msg.sender != _governance) revert Unauthorized(msg.sender, "governance");
        _;
    }

    /// @inheritdoc IGoverned
    function transferGovernance(address next) external onlyGovernance {
        if (next == address(0)) revert ZeroAddress();
        _pendingGovernance = next;
        emit GovernanceTransferStarted(_governance, next);
    }

    /// @inheritdoc IGoverned
    function acceptGovernance() external {
        if (msg.sender != _pendingGovernance) revert Unauthorized(msg.sender, "pendingGovernance");
        address previous = _governance;
        _governance = msg.sender;
        _pendingGovernance = address(0);
        emit GovernanceTransferred(previous, msg.sender);
    }

    /// @inheritdoc IGoverned
    function governance() public view returns (address) {
        return _governance;
    }

    /// @inheritdoc IGoverned
    function pendingGovernance() external view returns (address) {
        return _pendingGovernance;
    }
}
