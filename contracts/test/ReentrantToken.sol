// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title ReentrantToken (tests only, never deployed outside a local chain)
/// @notice A hostile ERC-20 for the attack suite (tests/security/). Once armed, the next token movement
/// (after `skip` others) calls `target` with `data` in the middle of the transfer, after the balances have
/// moved, the way an ERC-777 / ERC-1363 receiver hook would. The target is usually a ContractWallet acting
/// as one of the parties, so the re-entrant call carries that party's authority.
/// The hook's outcome is emitted (HookCalled), never bubbled: the outer call completes, and a test can check
/// both that the re-entrant call failed (and with which error) and that no extra money moved.
contract ReentrantToken is ERC20, ERC20Permit {
    /// @notice The hook fired: `target` was called and returned `ok` with `returnData`.
    event HookCalled(address indexed target, bool ok, bytes returnData);

    address public hookTarget;
    bytes public hookData;
    uint256 public hookSkip;
    bool public armed;
    uint256 public hookCalls;

    constructor(address recipient, uint256 supply) ERC20("Reentrant Compute", "REENT") ERC20Permit("Reentrant Compute") {
        _mint(recipient, supply);
    }

    /// @notice Call `target` with `data` on the token movement that follows `skip` others.
    function arm(address target, bytes calldata data, uint256 skip) external {
        hookTarget = target;
        hookData = data;
        hookSkip = skip;
        armed = true;
    }

    /// @notice Stop calling back.
    function disarm() external {
        armed = false;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (!armed) return;
        if (hookSkip != 0) {
            --hookSkip;
            return;
        }
        // Fires once: disarm before the call, so a re-entrant call that moves tokens does not fire it again.
        armed = false;
        ++hookCalls;
        address target = hookTarget;
        // slither-disable-next-line low-level-calls the hostile hook is the point of this test-only token
        (bool ok, bytes memory returnData) = target.call(hookData);
        emit HookCalled(target, ok, returnData);
    }
}
