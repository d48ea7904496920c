// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ContractWallet (tests only, never deployed outside a local chain)
/// @notice A party (client, provider, arbiter, attacker) that is a contract, so that a hostile token's hook can
/// act with that party's authority in the middle of another call. Anyone may make it call anything: it only
/// ever holds test tokens on a local chain.
contract ContractWallet {
    /// @notice Call `target` with `data` as this wallet; a revert is passed on with its exact data.
    function exec(address target, bytes calldata data) public returns (bytes memory returnData) {
        bool ok;
        // slither-disable-next-line low-level-calls a test wallet forwards arbitrary calls by design
        (ok, returnData) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(returnData, 0x20), mload(returnData))
            }
        }
    }

    /// @notice The same call `times` times in one transaction (e.g. thousands of dust jobs in a few blocks).
    function execRepeat(address target, bytes calldata data, uint256 times) external {
        for (uint256 i = 0; i < times; ++i) {
            exec(target, data);
        }
    }
}
