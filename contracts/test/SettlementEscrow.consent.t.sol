// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {EscrowFixture} from "./fixtures/EscrowFixture.sol";
import {SettlementEscrow} from "../src/SettlementEscrow.sol";
import {MockERC1271Wallet} from "./mocks/MockERC1271Wallet.sol";

/// @notice Finding A: no stranger can stand in for a trade's lock, and every lock is authorised
///         by the payer's EIP-712 LockIntent for exactly that trade.
contract SettlementEscrowConsentTest is EscrowFixture {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant INTENT_TYPEHASH =
        keccak256("LockIntent(bytes32 tradeId,address payer,address payee,uint256 amount,uint64 deadline)");
    /// @dev secp256k1 group order: private keys live in [1, N - 1].
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant WALLET_OWNER_PK = 0xB0B;

    function _expectBadSignature(bytes32 id, address signer) internal {
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidLockSignature.selector, id, signer));
    }

    // ---------------------------------------------------------------- who may lock

    function test_lock_revertsWhenNotAgent() public {
        // A stranger holding the payer's valid intent still cannot submit it.
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, stranger));
        escrow.lock(o, sig);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, admin));
        escrow.lock(o, sig);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
    }

    function test_lock_revertsWhenPayerLocksItself() public {
        // The squatting attack: a payer locking its own coins under someone else's trade id.
        SettlementEscrow.LockOrder memory o = _order(TRADE, 1);
        bytes memory sig = _signPayer(o);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, payer));
        escrow.lock(o, sig);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
    }

    function test_lock_strangerCannotSquatTradeId() public {
        // The stranger funds its own coins, signs its own intent and tries to claim TRADE first.
        vm.prank(issuer);
        token.issue(stranger, ONE);
        vm.prank(stranger);
        token.approve(address(escrow), ONE);
        SettlementEscrow.LockOrder memory squat = SettlementEscrow.LockOrder(TRADE, stranger, payee, 1, _deadline());
        bytes memory squatSig = _sign(STRANGER_PK, squat);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, stranger));
        escrow.lock(squat, squatSig);

        // The real trade then locks normally.
        _lock(TRADE, 100 * ONE);
        assertEq(escrow.getLock(TRADE).payer, payer);
        assertEq(escrow.getLock(TRADE).amount, 100 * ONE);
    }

    // ---------------------------------------------------------------- what the signature binds

    function test_lock_revertsWithWrongSigner() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory strangerSig = _sign(STRANGER_PK, o);
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, strangerSig);

        // No signature at all, and garbage, fail the same way.
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, "");
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, new bytes(65));
        _assertEscrowHolds(0);
    }

    function test_lock_revertsWithWrongAmount() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        o.amount = 1_000 * ONE;
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, sig);
    }

    function test_lock_revertsWithWrongPayee() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        o.payee = stranger;
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, sig);
    }

    function test_lock_revertsWithWrongDeadline() public {
        // A later deadline would delay the payer's refund: it must be the signed one.
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        o.deadline += 30 days;
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, sig);
    }

    function test_lock_revertsWithWrongPayer() public {
        // The payer's intent cannot be pinned on another (approved) payer's wallet.
        vm.prank(issuer);
        token.issue(stranger, 10 * ONE);
        vm.prank(stranger);
        token.approve(address(escrow), type(uint256).max);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        o.payer = stranger;
        vm.prank(agent);
        _expectBadSignature(TRADE, stranger);
        escrow.lock(o, sig);
    }

    function test_lock_revertsWithReplayedSignature() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        escrow.lock(o, sig);

        // The same signature for another trade id: the id is in the signed struct.
        SettlementEscrow.LockOrder memory other = _copy(o);
        other.tradeId = keccak256("trade-2");
        vm.prank(agent);
        _expectBadSignature(other.tradeId, payer);
        escrow.lock(other, sig);

        // The same order and signature again: the trade id is burnt.
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lock(o, sig);
        _assertEscrowHolds(ONE);
    }

    function test_lock_revertsWithExpiredIntent() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.warp(o.deadline);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidDeadline.selector, o.deadline));
        escrow.lock(o, sig);
        vm.warp(uint256(o.deadline) + 1 days);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidDeadline.selector, o.deadline));
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenSignedForAnotherChain() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.chainId(block.chainid + 1); // e.g. the same escrow address on a fork
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenSignedForAnotherEscrow() public {
        SettlementEscrow other = new SettlementEscrow(IERC20(address(token)), admin, agent);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PAYER_PK, other.hashLockIntent(o));
        bytes memory sigForOther = abi.encodePacked(r, s, v);
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, sigForOther);
    }

    function test_lock_revertsWithMalleatedSignature() public {
        // (r, n - s, v ^ 1) recovers the same signer; OpenZeppelin's ECDSA rejects the high-s
        // twin. Replay would fail anyway (burnt id), but one canonical form keeps things simple.
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PAYER_PK, escrow.hashLockIntent(o));
        uint8 twinV = v == 27 ? uint8(28) : uint8(27);
        bytes32 twinS = bytes32(SECP256K1_N - uint256(s));
        assertEq(ecrecover(escrow.hashLockIntent(o), twinV, r, twinS), payer); // a real twin
        bytes memory twin = abi.encodePacked(r, twinS, twinV);
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, twin);
    }

    function test_lock_revertsWithCompactSignature() public {
        // Only the 65-byte r || s || v form is accepted from an EOA: OpenZeppelin's calldata
        // recovery does not take ERC-2098 64-byte signatures. Off-chain code must send 65 bytes.
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PAYER_PK, escrow.hashLockIntent(o));
        bytes32 vs = bytes32(uint256(v - 27) << 255 | uint256(s));
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, abi.encodePacked(r, vs));
        // The same signature in 65-byte form works.
        vm.prank(agent);
        escrow.lock(o, abi.encodePacked(r, s, v));
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
    }

    // ---------------------------------------------------------------- permit path

    function test_lockWithPermit_requiresIntent() public {
        // A valid permit alone must not fund a trade the payer did not sign.
        vm.prank(payer);
        token.approve(address(escrow), 0);
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockOrder memory o = _order(TRADE, 10 * ONE);

        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lockWithPermit(o, "", 10 * ONE, permitDeadline, v, r, s);

        // Nor with an intent for a different payee: the permit is bound to the signed trade.
        bytes memory sig = _signPayer(o);
        o.payee = stranger;
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lockWithPermit(o, sig, 10 * ONE, permitDeadline, v, r, s);

        // The whole call reverted, so the permit was not consumed either.
        assertEq(token.nonces(payer), 0);
        assertEq(token.allowance(payer, address(escrow)), 0);
        _assertEscrowHolds(0);
    }

    function test_lockWithPermit_leftoverAllowanceNeedsIntent() public {
        // The standing max approval from setUp is a leftover: without an intent it funds nothing.
        SettlementEscrow.LockOrder memory o = _order(TRADE, 10 * ONE);
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lockWithPermit(o, "", 0, 0, 0, 0, 0);
        assertEq(token.balanceOf(payer), START_BALANCE);
    }

    // ---------------------------------------------------------------- the admin cannot take funds

    function test_adminGrantingItselfAgent_cannotPullApprovedFunds() public {
        // The payer has approved the escrow for everything (setUp) and signed one real trade.
        SettlementEscrow.LockOrder memory real = _order(TRADE, 5 * ONE);
        bytes memory realSig = _signPayer(real);

        vm.startPrank(admin);
        escrow.grantRole(agentRole, admin);
        assertTrue(escrow.hasRole(agentRole, admin));

        // 1. Its own order, paying itself, with no signature, a foreign one, or the real one.
        SettlementEscrow.LockOrder memory theft = SettlementEscrow.LockOrder(
            keccak256("theft"), payer, admin, START_BALANCE, uint64(block.timestamp + 1 hours)
        );
        _expectBadSignature(theft.tradeId, payer);
        escrow.lock(theft, "");
        _expectBadSignature(theft.tradeId, payer);
        escrow.lock(theft, realSig);

        // 2. The real intent, redirected to itself or inflated.
        SettlementEscrow.LockOrder memory redirected = _copy(real);
        redirected.payee = admin;
        _expectBadSignature(TRADE, payer);
        escrow.lock(redirected, realSig);
        SettlementEscrow.LockOrder memory inflated = _copy(real);
        inflated.amount = START_BALANCE;
        _expectBadSignature(TRADE, payer);
        escrow.lock(inflated, realSig);

        // 3. The batch and permit paths.
        SettlementEscrow.LockOrder[] memory orders = new SettlementEscrow.LockOrder[](1);
        orders[0] = theft;
        bytes[] memory sigs = new bytes[](1);
        sigs[0] = realSig;
        _expectBadSignature(theft.tradeId, payer);
        escrow.lockBatch(orders, sigs);
        _expectBadSignature(theft.tradeId, payer);
        escrow.lockWithPermit(theft, realSig, 0, 0, 0, 0, 0);

        // 4. Its other roles: rescue sees no surplus, recovery needs a stranded lock.
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RescueExceedsSurplus.selector, 1, 0));
        escrow.rescueERC20(IERC20(address(token)), admin, 1);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, theft.tradeId));
        escrow.scheduleRecovery(theft.tradeId, admin);
        vm.stopPrank();

        assertEq(token.balanceOf(payer), START_BALANCE);
        assertEq(token.balanceOf(admin), 0);
        _assertEscrowHolds(0);

        // 5. Once the real trade is locked, its coins are out of reach too: no surplus to rescue,
        //    no recovery while the parties are not both frozen, and release pays only the payee.
        _lockOrder(real);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RescueExceedsSurplus.selector, 1, 0));
        escrow.rescueERC20(IERC20(address(token)), admin, 1);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.PartiesNotBlacklisted.selector, TRADE));
        escrow.scheduleRecovery(TRADE, admin);
        escrow.release(TRADE);
        vm.stopPrank();
        assertEq(token.balanceOf(payee), 5 * ONE);
        assertEq(token.balanceOf(admin), 0);
    }

    /// @dev Whoever holds the agent role, any key other than the payer's signs nothing useful.
    function testFuzz_lock_revertsWhenSignedByAnyOtherKey(uint256 pk) public {
        pk = bound(pk, 1, SECP256K1_N - 1);
        vm.assume(pk != PAYER_PK);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _sign(pk, o);
        vm.prank(agent);
        _expectBadSignature(TRADE, payer);
        escrow.lock(o, sig);
    }

    /// @dev Changing any one signed field after signing invalidates the signature.
    function testFuzz_lock_revertsWhenAnyFieldDiffersFromSigned(uint8 field, uint256 seed) public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        field = field % 4;
        if (field == 0) {
            o.tradeId = keccak256(abi.encode(seed));
        } else if (field == 1) {
            address p = address(uint160(bound(seed, 1, type(uint160).max)));
            vm.assume(p != payee && p != payer && p != address(escrow));
            o.payee = p;
        } else if (field == 2) {
            o.amount = bound(seed, 1, START_BALANCE);
            vm.assume(o.amount != ONE); // ONE is what was signed
        } else {
            o.deadline = uint64(bound(seed, block.timestamp + 1, type(uint64).max));
            vm.assume(o.deadline != _deadline());
        }
        vm.prank(agent);
        _expectBadSignature(o.tradeId, payer);
        escrow.lock(o, sig);
    }

    /// @dev No caller without the agent role can lock, even with a valid intent.
    function testFuzz_lock_revertsWhenCallerNotAgent(address caller) public {
        vm.assume(caller != agent);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, caller));
        escrow.lock(o, sig);
    }

    // ---------------------------------------------------------------- EIP-712 encoding

    function test_lockIntentTypehash_matchesTheTypeString() public view {
        assertEq(escrow.LOCK_INTENT_TYPEHASH(), INTENT_TYPEHASH);
    }

    function test_hashLockIntent_equalsIndependentDigest() public view {
        SettlementEscrow.LockOrder memory o =
            SettlementEscrow.LockOrder(keccak256("independent"), payer, payee, 123_456_789, uint64(2_000_000_000));
        bytes32 domainSeparator = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("SettlementEscrow"), keccak256("1"), block.chainid, address(escrow))
        );
        bytes32 structHash =
            keccak256(abi.encode(INTENT_TYPEHASH, o.tradeId, o.payer, o.payee, o.amount, uint256(o.deadline)));
        bytes32 expected = keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
        assertEq(escrow.hashLockIntent(o), expected);
    }

    function test_hashLockIntent_matchesEthAccountVector() public {
        // A digest computed off chain by eth_account's encode_typed_data (the Python service's
        // library) for a fixed domain and message: proves both sides encode LockIntent alike.
        //   domain  {name: "SettlementEscrow", version: "1", chainId: 31337,
        //            verifyingContract: 0xEBdDBC4aDB3b351583569ab4fB336166C9b6d8Df}
        //   message {tradeId: keccak256("vector"),
        //            payer: 0xe05fcC23807536bEe418f142D19fa0d21BB0cfF7 (private key 0xA11CE),
        //            payee: 0x0000000000000000000000000000000000000B0B,
        //            amount: 1000000, deadline: 1900000000}
        // The escrow address is fixed by deploying it from a fresh address (nonce 0).
        vm.chainId(31337);
        address deployer = address(0xDE9107E2);
        vm.prank(deployer);
        SettlementEscrow fixedEscrow = new SettlementEscrow(IERC20(address(token)), admin, agent);
        SettlementEscrow.LockOrder memory o = SettlementEscrow.LockOrder(
            keccak256("vector"), vm.addr(PAYER_PK), address(0x0B0B), 1_000_000, uint64(1_900_000_000)
        );
        assertEq(address(fixedEscrow), EXPECTED_VECTOR_ESCROW);
        assertEq(fixedEscrow.hashLockIntent(o), EXPECTED_VECTOR_DIGEST);
    }

    address internal constant EXPECTED_VECTOR_ESCROW = 0xEBdDBC4aDB3b351583569ab4fB336166C9b6d8Df;
    bytes32 internal constant EXPECTED_VECTOR_DIGEST =
        0x822ab6285a5dc9fd582b95962fd6b04d0795898f2ad933d80554a13a46c8e3c3;

    function test_eip712Domain_describesThisEscrow() public view {
        (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        ) = escrow.eip712Domain();
        assertEq(uint256(uint8(fields)), 0x0f); // name, version, chainId, verifyingContract
        assertEq(name, "SettlementEscrow");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifyingContract, address(escrow));
        assertEq(salt, bytes32(0));
        assertEq(extensions.length, 0);
    }

    // ---------------------------------------------------------------- ERC-1271 payers

    function _fundWallet() internal returns (MockERC1271Wallet wallet) {
        wallet = new MockERC1271Wallet(vm.addr(WALLET_OWNER_PK));
        vm.prank(issuer);
        token.issue(address(wallet), 100 * ONE);
        vm.prank(vm.addr(WALLET_OWNER_PK));
        wallet.approve(IERC20(address(token)), address(escrow), type(uint256).max);
    }

    function test_lock_acceptsERC1271WalletSignature() public {
        MockERC1271Wallet wallet = _fundWallet();
        SettlementEscrow.LockOrder memory o =
            SettlementEscrow.LockOrder(TRADE, address(wallet), payee, 40 * ONE, _deadline());
        bytes memory sig = _sign(WALLET_OWNER_PK, o);

        vm.expectEmit(true, true, true, true, address(escrow));
        emit SettlementEscrow.Locked(TRADE, address(wallet), payee, 40 * ONE, o.deadline);
        vm.prank(agent);
        escrow.lock(o, sig);
        assertEq(token.balanceOf(address(wallet)), 60 * ONE);
        _assertEscrowHolds(40 * ONE);
    }

    function test_lock_revertsWhenERC1271WalletRejects() public {
        MockERC1271Wallet wallet = _fundWallet();
        SettlementEscrow.LockOrder memory o =
            SettlementEscrow.LockOrder(TRADE, address(wallet), payee, 40 * ONE, _deadline());
        bytes memory sig = _sign(STRANGER_PK, o); // not the wallet's owner
        vm.prank(agent);
        _expectBadSignature(TRADE, address(wallet));
        escrow.lock(o, sig);
        assertEq(token.balanceOf(address(wallet)), 100 * ONE);
    }

    function test_lock_revertsForContractPayerWithoutERC1271() public {
        // A contract with no isValidSignature (here: the token itself, holding coins) cannot be
        // a payer, even with an ECDSA signature from some key.
        vm.prank(issuer);
        token.issue(address(token), ONE);
        SettlementEscrow.LockOrder memory o = SettlementEscrow.LockOrder(TRADE, address(token), payee, ONE, _deadline());
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        _expectBadSignature(TRADE, address(token));
        escrow.lock(o, sig);
    }
}
