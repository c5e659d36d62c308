// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Takes a fee (in basis points) from every transfer, so the receiver gets less than
///         was sent. The escrow must reject this shortfall rather than book money it never got.
contract FeeOnTransferToken is ERC20 {
    uint256 public immutable feeBps;
    address public constant FEE_SINK = address(0xFEE);

    constructor(uint256 feeBps_) ERC20("Fee USD", "FUSD") {
        feeBps = feeBps_;
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0) || feeBps == 0) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * feeBps) / 10_000;
        super._update(from, FEE_SINK, fee);
        super._update(from, to, value - fee);
    }
}
