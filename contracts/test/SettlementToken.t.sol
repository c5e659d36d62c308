// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {TestBase} from "./base/TestBase.sol";
import {SettlementToken} from "../src/SettlementToken.sol";

/// @notice Unit tests for SettlementToken: one test per function and per revert path.
contract SettlementTokenTest is TestBase {
    bytes32 private constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    SettlementToken internal token;
    address internal issuer;
    address internal alice;
    address internal bob;
    address internal stranger;
    uint256 internal constant ALICE_PK = 0xA11CE;
    uint256 internal constant ONE = 1e6; // one coin at 6 decimals

    function setUp() public {
        issuer = makeAddr("issuer");
        bob = makeAddr("bob");
        stranger = makeAddr("stranger");
        // alice has a known key so she can sign permits.
        alice = vm.addr(ALICE_PK);
        vm.label(alice, "alice");
        token = new SettlementToken("Settlement USD", "SUSD", issuer);
        vm.prank(issuer);
        token.issue(alice, 1_000 * ONE);
    }

    // ---------------------------------------------------------------- helpers

    function _ownerError(address caller) private pure returns (bytes memory) {
        return abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, caller);
    }

    function _blacklist(address account) private {
        vm.prank(issuer);
        token.addBlackList(account);
    }

    function _pause() private {
        vm.prank(issuer);
        token.pause();
    }

    function _permitDigest(address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        private
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }

    // ---------------------------------------------------------------- metadata

    function test_metadata() public view {
        assertEq(token.name(), "Settlement USD");
        assertEq(token.symbol(), "SUSD");
        assertEq(token.decimals(), 6);
        assertEq(token.owner(), issuer);
        assertEq(token.totalSupply(), 1_000 * ONE);
        assertFalse(token.paused());
    }

    // ---------------------------------------------------------------- issue

    function test_issue_mintsToRecipientAndEmits() public {
        vm.expectEmit(true, true, false, true, address(token));
        emit IERC20.Transfer(address(0), bob, 5 * ONE);
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.Issue(bob, 5 * ONE);

        vm.prank(issuer);
        token.issue(bob, 5 * ONE);

        assertEq(token.balanceOf(bob), 5 * ONE);
        assertEq(token.totalSupply(), 1_005 * ONE);
    }

    function test_issue_revertsWhenNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.issue(stranger, ONE);
    }

    function test_issue_revertsOnZeroAmount() public {
        vm.prank(issuer);
        vm.expectRevert(SettlementToken.ZeroAmount.selector);
        token.issue(bob, 0);
    }

    function test_issue_revertsToZeroAddress() public {
        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        token.issue(address(0), ONE);
    }

    function test_issue_revertsToBlacklisted() public {
        _blacklist(bob);
        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, bob));
        token.issue(bob, ONE);
    }

    function test_issue_revertsWhenPaused() public {
        _pause();
        vm.prank(issuer);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.issue(bob, ONE);
    }

    // ---------------------------------------------------------------- redeem

    function test_redeem_burnsFromIssuerAndEmits() public {
        vm.startPrank(issuer);
        token.issue(issuer, 10 * ONE);

        vm.expectEmit(true, true, false, true, address(token));
        emit IERC20.Transfer(issuer, address(0), 4 * ONE);
        vm.expectEmit(false, false, false, true, address(token));
        emit SettlementToken.Redeem(4 * ONE);
        token.redeem(4 * ONE);
        vm.stopPrank();

        assertEq(token.balanceOf(issuer), 6 * ONE);
        assertEq(token.totalSupply(), 1_006 * ONE);
    }

    function test_redeem_revertsWhenNotOwner() public {
        vm.prank(alice);
        vm.expectRevert(_ownerError(alice));
        token.redeem(ONE);
    }

    function test_redeem_revertsOnZeroAmount() public {
        vm.prank(issuer);
        vm.expectRevert(SettlementToken.ZeroAmount.selector);
        token.redeem(0);
    }

    function test_redeem_revertsWhenIssuerBalanceTooLow() public {
        // Redeem burns only the issuer's own coins, never a holder's.
        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, issuer, 0, ONE));
        token.redeem(ONE);
    }

    function test_redeem_revertsWhenPaused() public {
        vm.prank(issuer);
        token.issue(issuer, ONE);
        _pause();
        vm.prank(issuer);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.redeem(ONE);
    }

    // ---------------------------------------------------------------- pause / unpause

    function test_pause_setsPausedAndEmits() public {
        vm.expectEmit(false, false, false, true, address(token));
        emit Pausable.Paused(issuer);
        _pause();
        assertTrue(token.paused());
    }

    function test_pause_revertsWhenNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.pause();
    }

    function test_pause_revertsWhenAlreadyPaused() public {
        _pause();
        vm.prank(issuer);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.pause();
    }

    function test_unpause_restoresTransfersAndEmits() public {
        _pause();
        vm.expectEmit(false, false, false, true, address(token));
        emit Pausable.Unpaused(issuer);
        vm.prank(issuer);
        token.unpause();

        assertFalse(token.paused());
        vm.prank(alice);
        token.transfer(bob, ONE);
        assertEq(token.balanceOf(bob), ONE);
    }

    function test_unpause_revertsWhenNotOwner() public {
        _pause();
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.unpause();
    }

    function test_unpause_revertsWhenNotPaused() public {
        vm.prank(issuer);
        vm.expectRevert(Pausable.ExpectedPause.selector);
        token.unpause();
    }

    function test_transfer_revertsWhenPaused() public {
        _pause();
        vm.prank(alice);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.transfer(bob, ONE);
    }

    function test_transferFrom_revertsWhenPaused() public {
        vm.prank(alice);
        token.approve(bob, ONE);
        _pause();
        vm.prank(bob);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.transferFrom(alice, bob, ONE);
    }

    // ---------------------------------------------------------------- transfer basics

    function test_transfer_movesBalance() public {
        vm.prank(alice);
        assertTrue(token.transfer(bob, 3 * ONE));
        assertEq(token.balanceOf(alice), 997 * ONE);
        assertEq(token.balanceOf(bob), 3 * ONE);
    }

    function test_transferFrom_spendsAllowance() public {
        vm.prank(alice);
        token.approve(bob, 5 * ONE);
        vm.prank(bob);
        assertTrue(token.transferFrom(alice, stranger, 2 * ONE));
        assertEq(token.balanceOf(stranger), 2 * ONE);
        assertEq(token.allowance(alice, bob), 3 * ONE);
    }

    // ---------------------------------------------------------------- blacklist

    function test_addBlackList_setsFlagAndEmits() public {
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.AddedBlackList(bob);
        _blacklist(bob);
        assertTrue(token.isBlackListed(bob));
    }

    function test_addBlackList_revertsWhenNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.addBlackList(bob);
    }

    function test_removeBlackList_clearsFlagAndEmits() public {
        _blacklist(alice);
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.RemovedBlackList(alice);
        vm.prank(issuer);
        token.removeBlackList(alice);

        assertFalse(token.isBlackListed(alice));
        // Cleared accounts can move coins again.
        vm.prank(alice);
        token.transfer(bob, ONE);
        assertEq(token.balanceOf(bob), ONE);
    }

    function test_removeBlackList_revertsWhenNotOwner() public {
        _blacklist(alice);
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.removeBlackList(alice);
    }

    function test_transfer_revertsFromBlacklisted() public {
        _blacklist(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, alice));
        token.transfer(bob, ONE);
    }

    function test_transfer_revertsToBlacklisted() public {
        _blacklist(bob);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, bob));
        token.transfer(bob, ONE);
    }

    function test_transferFrom_revertsWhenOwnerBlacklisted() public {
        // An allowance granted before the blacklisting must not be a way around it.
        vm.prank(alice);
        token.approve(bob, ONE);
        _blacklist(alice);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, alice));
        token.transferFrom(alice, bob, ONE);
    }

    function test_transferFrom_revertsToBlacklisted() public {
        vm.prank(alice);
        token.approve(bob, ONE);
        _blacklist(stranger);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, stranger));
        token.transferFrom(alice, stranger, ONE);
    }

    // ---------------------------------------------------------------- destroyBlackFunds

    function test_destroyBlackFunds_burnsWholeBalanceAndEmits() public {
        _blacklist(alice);
        vm.expectEmit(true, true, false, true, address(token));
        emit IERC20.Transfer(alice, address(0), 1_000 * ONE);
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.DestroyedBlackFunds(alice, 1_000 * ONE);

        vm.prank(issuer);
        token.destroyBlackFunds(alice);

        assertEq(token.balanceOf(alice), 0);
        assertEq(token.totalSupply(), 0);
        assertTrue(token.isBlackListed(alice)); // the account stays frozen
    }

    function test_destroyBlackFunds_revertsWhenNotBlacklisted() public {
        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.NotBlacklisted.selector, alice));
        token.destroyBlackFunds(alice);
    }

    function test_destroyBlackFunds_revertsWhenNotOwner() public {
        _blacklist(alice);
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.destroyBlackFunds(alice);
    }

    // ---------------------------------------------------------------- ownership (two-step)

    function test_transferOwnership_takesEffectOnlyWhenAccepted() public {
        vm.expectEmit(true, true, false, true, address(token));
        emit Ownable2Step.OwnershipTransferStarted(issuer, bob);
        vm.prank(issuer);
        token.transferOwnership(bob);
        assertEq(token.owner(), issuer);
        assertEq(token.pendingOwner(), bob);

        vm.expectEmit(true, true, false, true, address(token));
        emit Ownable.OwnershipTransferred(issuer, bob);
        vm.prank(bob);
        token.acceptOwnership();
        assertEq(token.owner(), bob);

        // The old issuer lost its powers.
        vm.prank(issuer);
        vm.expectRevert(_ownerError(issuer));
        token.issue(issuer, ONE);
    }

    function test_transferOwnership_revertsWhenNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.transferOwnership(stranger);
    }

    function test_acceptOwnership_revertsWhenNotPendingOwner() public {
        vm.prank(issuer);
        token.transferOwnership(bob);
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.acceptOwnership();
    }

    // ---------------------------------------------------------------- permit (EIP-2612)

    function test_permit_setsAllowanceAndBumpsNonce() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_PK, _permitDigest(alice, bob, 7 * ONE, 0, deadline));

        vm.expectEmit(true, true, false, true, address(token));
        emit IERC20.Approval(alice, bob, 7 * ONE);
        // Anyone may submit the signature: that is the point of permit.
        vm.prank(stranger);
        token.permit(alice, bob, 7 * ONE, deadline, v, r, s);

        assertEq(token.allowance(alice, bob), 7 * ONE);
        assertEq(token.nonces(alice), 1);
    }

    function test_permit_worksAtExactDeadline() public {
        uint256 deadline = block.timestamp + 100;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_PK, _permitDigest(alice, bob, ONE, 0, deadline));
        vm.warp(deadline);
        token.permit(alice, bob, ONE, deadline, v, r, s);
        assertEq(token.allowance(alice, bob), ONE);
    }

    function test_permit_revertsWhenExpired() public {
        uint256 deadline = block.timestamp + 100;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_PK, _permitDigest(alice, bob, ONE, 0, deadline));
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(alice, bob, ONE, deadline, v, r, s);
    }

    function test_permit_revertsWithWrongSigner() public {
        uint256 deadline = block.timestamp + 100;
        uint256 otherPk = 0xB0B;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(otherPk, _permitDigest(alice, bob, ONE, 0, deadline));
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, vm.addr(otherPk), alice));
        token.permit(alice, bob, ONE, deadline, v, r, s);
    }

    function test_permit_revertsWhenParametersDifferFromSigned() public {
        uint256 deadline = block.timestamp + 100;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_PK, _permitDigest(alice, bob, ONE, 0, deadline));
        // Raising the value changes the digest, so the recovered signer is some unrelated address.
        vm.expectPartialRevert(ERC20Permit.ERC2612InvalidSigner.selector);
        token.permit(alice, bob, 2 * ONE, deadline, v, r, s);
    }

    function test_permit_revertsOnReplay() public {
        uint256 deadline = block.timestamp + 100;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_PK, _permitDigest(alice, bob, ONE, 0, deadline));
        token.permit(alice, bob, ONE, deadline, v, r, s);
        // The nonce moved on, so the same signature no longer recovers to alice.
        vm.expectPartialRevert(ERC20Permit.ERC2612InvalidSigner.selector);
        token.permit(alice, bob, ONE, deadline, v, r, s);
    }
}
