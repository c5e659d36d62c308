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
import {NoReturnToken} from "./mocks/NoReturnToken.sol";

/// @notice Unit tests for SettlementToken: one test per function and per revert path, and for
///         every privileged function a check that each other role is refused.
contract SettlementTokenTest is TestBase {
    bytes32 private constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    SettlementToken internal token;
    // One key per role, all distinct, so a test can tell which power a call relied on.
    address internal owner;
    address internal masterMinter;
    address internal issuer; // the minter
    address internal pauser;
    address internal blacklister;
    address internal rescuer;
    address internal alice;
    address internal bob;
    address internal stranger;
    uint256 internal constant ALICE_PK = 0xA11CE;
    uint256 internal constant ONE = 1e6; // one coin at 6 decimals
    uint256 internal constant MINTER_ALLOWANCE = 1_000_000 * ONE;

    function setUp() public {
        owner = makeAddr("owner");
        masterMinter = makeAddr("masterMinter");
        issuer = makeAddr("issuer");
        pauser = makeAddr("pauser");
        blacklister = makeAddr("blacklister");
        rescuer = makeAddr("rescuer");
        bob = makeAddr("bob");
        stranger = makeAddr("stranger");
        // alice has a known key so she can sign permits.
        alice = vm.addr(ALICE_PK);
        vm.label(alice, "alice");
        token = new SettlementToken("Settlement USD", "SUSD", owner, masterMinter, pauser, blacklister, rescuer);
        vm.prank(masterMinter);
        token.configureMinter(issuer, MINTER_ALLOWANCE);
        vm.prank(issuer);
        token.issue(alice, 1_000 * ONE);
    }

    // ---------------------------------------------------------------- helpers

    function _ownerError(address caller) private pure returns (bytes memory) {
        return abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, caller);
    }

    function _err(bytes4 selector, address caller) private pure returns (bytes memory) {
        return abi.encodeWithSelector(selector, caller);
    }

    /// @dev Every role holder, plus a stranger, except `holder`: the callers that must be refused.
    function _othersThan(address holder) private view returns (address[] memory others) {
        address[7] memory all = [owner, masterMinter, issuer, pauser, blacklister, rescuer, stranger];
        others = new address[](6);
        uint256 n;
        for (uint256 i = 0; i < all.length; i++) {
            if (all[i] != holder) others[n++] = all[i];
        }
        require(n == 6, "holder must be exactly one of the roles");
    }

    function _blacklist(address account) private {
        vm.prank(blacklister);
        token.addBlackList(account);
    }

    function _pause() private {
        vm.prank(pauser);
        token.pause();
    }

    function _permitDigest(address owner_, address spender, uint256 value, uint256 nonce, uint256 deadline)
        private
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner_, spender, value, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }

    // ---------------------------------------------------------------- metadata and roles

    function test_metadata() public view {
        assertEq(token.name(), "Settlement USD");
        assertEq(token.symbol(), "SUSD");
        assertEq(token.decimals(), 6);
        assertEq(token.totalSupply(), 1_000 * ONE);
        assertFalse(token.paused());
    }

    function test_constructor_assignsEveryRoleAndNoMinter() public {
        SettlementToken fresh = new SettlementToken("X", "X", owner, masterMinter, pauser, blacklister, rescuer);
        assertEq(fresh.owner(), owner);
        assertEq(fresh.masterMinter(), masterMinter);
        assertEq(fresh.pauser(), pauser);
        assertEq(fresh.blacklister(), blacklister);
        assertEq(fresh.rescuer(), rescuer);
        // Nobody can mint until the masterMinter configures a minter, the owner included.
        assertFalse(fresh.isMinter(owner));
        assertFalse(fresh.isMinter(masterMinter));
        vm.prank(owner);
        vm.expectRevert(_err(SettlementToken.NotMinter.selector, owner));
        fresh.issue(owner, ONE);
    }

    function test_constructor_emitsRoleEvents() public {
        vm.expectEmit(true, false, false, true);
        emit SettlementToken.MasterMinterChanged(masterMinter);
        vm.expectEmit(true, false, false, true);
        emit SettlementToken.PauserChanged(pauser);
        vm.expectEmit(true, false, false, true);
        emit SettlementToken.BlacklisterChanged(blacklister);
        vm.expectEmit(true, false, false, true);
        emit SettlementToken.RescuerChanged(rescuer);
        new SettlementToken("X", "X", owner, masterMinter, pauser, blacklister, rescuer);
    }

    function test_constructor_revertsOnZeroRole() public {
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        new SettlementToken("X", "X", owner, address(0), pauser, blacklister, rescuer);
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        new SettlementToken("X", "X", owner, masterMinter, address(0), blacklister, rescuer);
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        new SettlementToken("X", "X", owner, masterMinter, pauser, address(0), rescuer);
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        new SettlementToken("X", "X", owner, masterMinter, pauser, blacklister, address(0));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new SettlementToken("X", "X", address(0), masterMinter, pauser, blacklister, rescuer);
    }

    // ---------------------------------------------------------------- owner: role setters

    function test_updateMasterMinter_byOwnerMovesThePower() public {
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.MasterMinterChanged(bob);
        vm.prank(owner);
        token.updateMasterMinter(bob);
        assertEq(token.masterMinter(), bob);

        vm.prank(masterMinter);
        vm.expectRevert(_err(SettlementToken.NotMasterMinter.selector, masterMinter));
        token.configureMinter(stranger, ONE);
        vm.prank(bob);
        token.configureMinter(stranger, ONE);
        assertTrue(token.isMinter(stranger));
    }

    function test_updatePauser_byOwnerMovesThePower() public {
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.PauserChanged(bob);
        vm.prank(owner);
        token.updatePauser(bob);
        assertEq(token.pauser(), bob);

        vm.prank(pauser);
        vm.expectRevert(_err(SettlementToken.NotPauser.selector, pauser));
        token.pause();
        vm.prank(bob);
        token.pause();
        assertTrue(token.paused());
    }

    function test_updateBlacklister_byOwnerMovesThePower() public {
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.BlacklisterChanged(bob);
        vm.prank(owner);
        token.updateBlacklister(bob);
        assertEq(token.blacklister(), bob);

        vm.prank(blacklister);
        vm.expectRevert(_err(SettlementToken.NotBlacklister.selector, blacklister));
        token.addBlackList(stranger);
        vm.prank(bob);
        token.addBlackList(stranger);
        assertTrue(token.isBlackListed(stranger));
    }

    function test_updateRescuer_byOwnerMovesThePower() public {
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.RescuerChanged(bob);
        vm.prank(owner);
        token.updateRescuer(bob);
        assertEq(token.rescuer(), bob);

        vm.prank(rescuer);
        vm.expectRevert(_err(SettlementToken.NotRescuer.selector, rescuer));
        token.rescueERC20(IERC20(address(token)), rescuer, 0);
    }

    function test_roleSetters_revertWhenNotOwner() public {
        address[] memory others = _othersThan(owner);
        for (uint256 i = 0; i < others.length; i++) {
            address caller = others[i];
            vm.prank(caller);
            vm.expectRevert(_ownerError(caller));
            token.updateMasterMinter(caller);
            vm.prank(caller);
            vm.expectRevert(_ownerError(caller));
            token.updatePauser(caller);
            vm.prank(caller);
            vm.expectRevert(_ownerError(caller));
            token.updateBlacklister(caller);
            vm.prank(caller);
            vm.expectRevert(_ownerError(caller));
            token.updateRescuer(caller);
        }
    }

    function test_roleSetters_revertOnZeroAddress() public {
        vm.startPrank(owner);
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        token.updateMasterMinter(address(0));
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        token.updatePauser(address(0));
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        token.updateBlacklister(address(0));
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        token.updateRescuer(address(0));
        vm.stopPrank();
        assertEq(token.masterMinter(), masterMinter);
    }

    function test_owner_hasNoOperationalPowerByItself() public {
        // The owner appoints; it does not mint, pause, freeze or rescue unless it appoints itself.
        vm.startPrank(owner);
        vm.expectRevert(_err(SettlementToken.NotMinter.selector, owner));
        token.issue(owner, ONE);
        vm.expectRevert(_err(SettlementToken.NotMasterMinter.selector, owner));
        token.configureMinter(owner, ONE);
        vm.expectRevert(_err(SettlementToken.NotPauser.selector, owner));
        token.pause();
        vm.expectRevert(_err(SettlementToken.NotBlacklister.selector, owner));
        token.addBlackList(alice);
        vm.expectRevert(_err(SettlementToken.NotRescuer.selector, owner));
        token.rescueERC20(IERC20(address(token)), owner, 0);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- ownership

    function test_renounceOwnership_reverts() public {
        vm.prank(owner);
        vm.expectRevert(SettlementToken.OwnershipCannotBeRenounced.selector);
        token.renounceOwnership();
        assertEq(token.owner(), owner);
    }

    function test_renounceOwnership_revertsWhenNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.renounceOwnership();
    }

    function test_transferOwnership_takesEffectOnlyWhenAccepted() public {
        vm.expectEmit(true, true, false, true, address(token));
        emit Ownable2Step.OwnershipTransferStarted(owner, bob);
        vm.prank(owner);
        token.transferOwnership(bob);
        assertEq(token.owner(), owner);
        assertEq(token.pendingOwner(), bob);

        vm.expectEmit(true, true, false, true, address(token));
        emit Ownable.OwnershipTransferred(owner, bob);
        vm.prank(bob);
        token.acceptOwnership();
        assertEq(token.owner(), bob);

        // The old owner lost its powers; the other roles are untouched.
        vm.prank(owner);
        vm.expectRevert(_ownerError(owner));
        token.updatePauser(owner);
        assertEq(token.pauser(), pauser);
    }

    function test_transferOwnership_revertsWhenNotOwner() public {
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.transferOwnership(stranger);
    }

    function test_acceptOwnership_revertsWhenNotPendingOwner() public {
        vm.prank(owner);
        token.transferOwnership(bob);
        vm.prank(stranger);
        vm.expectRevert(_ownerError(stranger));
        token.acceptOwnership();
    }

    // ---------------------------------------------------------------- masterMinter

    function test_configureMinter_setsAllowanceAndEmits() public {
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.MinterConfigured(bob, 7 * ONE);
        vm.prank(masterMinter);
        token.configureMinter(bob, 7 * ONE);
        assertTrue(token.isMinter(bob));
        assertEq(token.minterAllowance(bob), 7 * ONE);
    }

    function test_configureMinter_replacesAllowance() public {
        vm.startPrank(masterMinter);
        token.configureMinter(bob, 7 * ONE);
        token.configureMinter(bob, 2 * ONE);
        vm.stopPrank();
        assertEq(token.minterAllowance(bob), 2 * ONE);
    }

    function test_configureMinter_revertsWhenNotMasterMinter() public {
        address[] memory others = _othersThan(masterMinter);
        for (uint256 i = 0; i < others.length; i++) {
            vm.prank(others[i]);
            vm.expectRevert(_err(SettlementToken.NotMasterMinter.selector, others[i]));
            token.configureMinter(others[i], type(uint256).max);
        }
        // A minter cannot raise its own allowance either.
        assertEq(token.minterAllowance(issuer), MINTER_ALLOWANCE - 1_000 * ONE);
    }

    function test_configureMinter_revertsOnZeroAddress() public {
        vm.prank(masterMinter);
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        token.configureMinter(address(0), ONE);
    }

    function test_removeMinter_revokesMintingAndEmits() public {
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.MinterRemoved(issuer);
        vm.prank(masterMinter);
        token.removeMinter(issuer);
        assertFalse(token.isMinter(issuer));
        assertEq(token.minterAllowance(issuer), 0);

        vm.prank(issuer);
        vm.expectRevert(_err(SettlementToken.NotMinter.selector, issuer));
        token.issue(bob, ONE);
    }

    function test_removeMinter_revertsWhenNotMasterMinter() public {
        address[] memory others = _othersThan(masterMinter);
        for (uint256 i = 0; i < others.length; i++) {
            vm.prank(others[i]);
            vm.expectRevert(_err(SettlementToken.NotMasterMinter.selector, others[i]));
            token.removeMinter(issuer);
        }
        assertTrue(token.isMinter(issuer));
    }

    function test_removeMinter_revertsWhenNotAMinter() public {
        vm.prank(masterMinter);
        vm.expectRevert(_err(SettlementToken.NotMinter.selector, bob));
        token.removeMinter(bob);
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

    function test_issue_decrementsMinterAllowance() public {
        uint256 before = token.minterAllowance(issuer);
        vm.prank(issuer);
        token.issue(bob, 5 * ONE);
        assertEq(token.minterAllowance(issuer), before - 5 * ONE);
    }

    function test_issue_revertsWhenAllowanceExceeded() public {
        vm.prank(masterMinter);
        token.configureMinter(bob, 10 * ONE);

        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(SettlementToken.MinterAllowanceExceeded.selector, bob, 10 * ONE, 10 * ONE + 1)
        );
        token.issue(bob, 10 * ONE + 1);

        // Exactly the allowance works and leaves nothing; then even one unit is refused.
        vm.prank(bob);
        token.issue(bob, 10 * ONE);
        assertEq(token.minterAllowance(bob), 0);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.MinterAllowanceExceeded.selector, bob, 0, 1));
        token.issue(bob, 1);
    }

    function test_issue_revertsWhenNotMinter() public {
        address[] memory others = _othersThan(issuer);
        for (uint256 i = 0; i < others.length; i++) {
            vm.prank(others[i]);
            vm.expectRevert(_err(SettlementToken.NotMinter.selector, others[i]));
            token.issue(others[i], ONE);
        }
    }

    function test_issue_revertsWhenMinterBlacklisted() public {
        _blacklist(issuer);
        vm.prank(issuer);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, issuer));
        token.issue(bob, ONE);
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

    /// @dev Whatever the sequence of issues, a minter never mints more than it was allowed and
    ///      the remaining allowance is exactly the unused part.
    function testFuzz_issue_neverExceedsAllowance(uint256 allowance, uint256 first, uint256 second) public {
        allowance = bound(allowance, 1, type(uint128).max);
        first = bound(first, 1, allowance);
        second = bound(second, 1, type(uint128).max);
        vm.prank(masterMinter);
        token.configureMinter(bob, allowance);

        vm.prank(bob);
        token.issue(bob, first);
        assertEq(token.minterAllowance(bob), allowance - first);

        vm.prank(bob);
        if (second > allowance - first) {
            vm.expectRevert(
                abi.encodeWithSelector(SettlementToken.MinterAllowanceExceeded.selector, bob, allowance - first, second)
            );
            token.issue(bob, second);
            assertEq(token.balanceOf(bob), first);
        } else {
            token.issue(bob, second);
            assertEq(token.balanceOf(bob), first + second);
        }
        assertLe(token.balanceOf(bob), allowance, "minted more than allowed");
    }

    // ---------------------------------------------------------------- redeem

    function test_redeem_burnsFromMinterAndEmits() public {
        vm.startPrank(issuer);
        token.issue(issuer, 10 * ONE);
        uint256 allowanceBefore = token.minterAllowance(issuer);

        vm.expectEmit(true, true, false, true, address(token));
        emit IERC20.Transfer(issuer, address(0), 4 * ONE);
        vm.expectEmit(false, false, false, true, address(token));
        emit SettlementToken.Redeem(4 * ONE);
        token.redeem(4 * ONE);
        vm.stopPrank();

        assertEq(token.balanceOf(issuer), 6 * ONE);
        assertEq(token.totalSupply(), 1_006 * ONE);
        // Burning does not hand allowance back: only the masterMinter grants allowance.
        assertEq(token.minterAllowance(issuer), allowanceBefore);
    }

    function test_redeem_revertsWhenNotMinter() public {
        vm.prank(alice);
        vm.expectRevert(_err(SettlementToken.NotMinter.selector, alice));
        token.redeem(ONE);
        vm.prank(owner);
        vm.expectRevert(_err(SettlementToken.NotMinter.selector, owner));
        token.redeem(ONE);
    }

    function test_redeem_revertsOnZeroAmount() public {
        vm.prank(issuer);
        vm.expectRevert(SettlementToken.ZeroAmount.selector);
        token.redeem(0);
    }

    function test_redeem_revertsWhenMinterBalanceTooLow() public {
        // Redeem burns only the minter's own coins, never a holder's.
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
        emit Pausable.Paused(pauser);
        _pause();
        assertTrue(token.paused());
    }

    function test_pause_revertsWhenNotPauser() public {
        address[] memory others = _othersThan(pauser);
        for (uint256 i = 0; i < others.length; i++) {
            vm.prank(others[i]);
            vm.expectRevert(_err(SettlementToken.NotPauser.selector, others[i]));
            token.pause();
        }
    }

    function test_pause_revertsWhenAlreadyPaused() public {
        _pause();
        vm.prank(pauser);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.pause();
    }

    function test_unpause_restoresTransfersAndEmits() public {
        _pause();
        vm.expectEmit(false, false, false, true, address(token));
        emit Pausable.Unpaused(pauser);
        vm.prank(pauser);
        token.unpause();

        assertFalse(token.paused());
        vm.prank(alice);
        token.transfer(bob, ONE);
        assertEq(token.balanceOf(bob), ONE);
    }

    function test_unpause_revertsWhenNotPauser() public {
        _pause();
        address[] memory others = _othersThan(pauser);
        for (uint256 i = 0; i < others.length; i++) {
            vm.prank(others[i]);
            vm.expectRevert(_err(SettlementToken.NotPauser.selector, others[i]));
            token.unpause();
        }
    }

    function test_unpause_revertsWhenNotPaused() public {
        vm.prank(pauser);
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

    function test_addBlackList_revertsWhenNotBlacklister() public {
        address[] memory others = _othersThan(blacklister);
        for (uint256 i = 0; i < others.length; i++) {
            vm.prank(others[i]);
            vm.expectRevert(_err(SettlementToken.NotBlacklister.selector, others[i]));
            token.addBlackList(bob);
        }
    }

    function test_removeBlackList_clearsFlagAndEmits() public {
        _blacklist(alice);
        vm.expectEmit(true, false, false, true, address(token));
        emit SettlementToken.RemovedBlackList(alice);
        vm.prank(blacklister);
        token.removeBlackList(alice);

        assertFalse(token.isBlackListed(alice));
        // Cleared accounts can move coins again.
        vm.prank(alice);
        token.transfer(bob, ONE);
        assertEq(token.balanceOf(bob), ONE);
    }

    function test_removeBlackList_revertsWhenNotBlacklister() public {
        _blacklist(alice);
        address[] memory others = _othersThan(blacklister);
        for (uint256 i = 0; i < others.length; i++) {
            vm.prank(others[i]);
            vm.expectRevert(_err(SettlementToken.NotBlacklister.selector, others[i]));
            token.removeBlackList(alice);
        }
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

        vm.prank(blacklister);
        token.destroyBlackFunds(alice);

        assertEq(token.balanceOf(alice), 0);
        assertEq(token.totalSupply(), 0);
        assertTrue(token.isBlackListed(alice)); // the account stays frozen
    }

    function test_destroyBlackFunds_revertsWhenNotBlacklisted() public {
        vm.prank(blacklister);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.NotBlacklisted.selector, alice));
        token.destroyBlackFunds(alice);
    }

    function test_destroyBlackFunds_revertsWhenNotBlacklister() public {
        _blacklist(alice);
        address[] memory others = _othersThan(blacklister);
        for (uint256 i = 0; i < others.length; i++) {
            vm.prank(others[i]);
            vm.expectRevert(_err(SettlementToken.NotBlacklister.selector, others[i]));
            token.destroyBlackFunds(alice);
        }
        assertEq(token.balanceOf(alice), 1_000 * ONE);
    }

    // ---------------------------------------------------------------- rescuer

    function test_rescueERC20_returnsAnotherTokenSentByMistake() public {
        NoReturnToken other = new NoReturnToken(); // USDT-like: no return value, still works
        other.mint(address(token), 50 * ONE);

        vm.expectEmit(true, true, false, true, address(token));
        emit SettlementToken.Rescued(address(other), bob, 30 * ONE);
        vm.prank(rescuer);
        token.rescueERC20(IERC20(address(other)), bob, 30 * ONE);

        assertEq(other.balanceOf(bob), 30 * ONE);
        assertEq(other.balanceOf(address(token)), 20 * ONE);
    }

    function test_rescueERC20_returnsOwnCoinsSentByMistake() public {
        vm.prank(alice);
        token.transfer(address(token), 10 * ONE);
        vm.prank(rescuer);
        token.rescueERC20(IERC20(address(token)), alice, 10 * ONE);
        assertEq(token.balanceOf(alice), 1_000 * ONE);
        assertEq(token.balanceOf(address(token)), 0);
    }

    function test_rescueERC20_revertsWhenNotRescuer() public {
        vm.prank(alice);
        token.transfer(address(token), 10 * ONE);
        address[] memory others = _othersThan(rescuer);
        for (uint256 i = 0; i < others.length; i++) {
            vm.prank(others[i]);
            vm.expectRevert(_err(SettlementToken.NotRescuer.selector, others[i]));
            token.rescueERC20(IERC20(address(token)), others[i], 10 * ONE);
        }
        assertEq(token.balanceOf(address(token)), 10 * ONE);
    }

    function test_rescueERC20_revertsToZeroAddress() public {
        vm.prank(rescuer);
        vm.expectRevert(SettlementToken.ZeroAddress.selector);
        token.rescueERC20(IERC20(address(token)), address(0), 0);
    }

    function test_rescueERC20_cannotTakeHoldersCoins() public {
        // The rescuer only moves what the token contract itself holds.
        vm.prank(rescuer);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, address(token), 0, ONE));
        token.rescueERC20(IERC20(address(token)), rescuer, ONE);
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
