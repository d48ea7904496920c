// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title The gpusettle compute token
/// @notice A fixed-supply ERC-20 with EIP-2612 permit and burn. The whole supply is minted once, at
/// deployment, to `recipient`; the contract has no mint function, so nobody can create tokens later.
contract ComputeToken is ERC20, ERC20Permit, ERC20Burnable {
    /// @notice The supply was zero or the recipient the zero address.
    error ComputeTokenInvalidGenesis(address recipient, uint256 supply);

    constructor(string memory name_, string memory symbol_, address recipient, uint256 supply)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
    {
        if (recipient == address(0) || supply == 0) revert ComputeTokenInvalidGenesis(recipient, supply);
        _mint(recipient, supply);
    }
}
