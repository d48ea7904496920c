"""Artifacts and revert decoding, without a chain."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode

from gpusettle.chain.abi import CONTRACT_NAMES, load_artifact, load_artifacts
from gpusettle.chain.export_abi import main as export_main
from gpusettle.chain.revert import DecodedContractError, ErrorDecoder
from gpusettle.hashing import keccak256


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain here."""


def test_packaged_abis_match_the_build() -> None:
    # Fails when a contract changed and `python -m gpusettle.chain.export_abi` was not run.
    assert export_main(["--check"]) == 0


def test_packaged_copy_loads_without_build() -> None:
    for name in CONTRACT_NAMES:
        art = load_artifact(name, prefer_build=False)
        assert "gpusettle/abi" in art.source
        assert len(art.bytecode) > 1000 and len(art.deployed_bytecode) > 1000
        assert art.compiler_version.startswith("0.8.")


def _decoder() -> ErrorDecoder:
    return ErrorDecoder((a.abi for a in load_artifacts().values()), decimals=18, symbol="GPUC")


def test_every_declared_error_decodes_by_name() -> None:
    decoder = _decoder()
    names = {e["name"] for a in load_artifacts().values() for e in a.abi if e["type"] == "error"}
    assert "JobEscrowWrongStatus" in names and "ERC20InsufficientBalance" in names
    for spec in decoder.specs.values():
        zero_args = encode(list(spec.types), [_zero(t) for t in spec.types])
        err = decoder.decode(spec.selector + zero_args)
        assert isinstance(err, DecodedContractError) and err.name == spec.name


def _zero(t: str) -> object:
    if t == "address":
        return "0x" + "00" * 20
    if t.startswith("bytes") and t != "bytes":
        return b"\x00" * int(t[5:])
    if t in ("bytes", "string"):
        return b"" if t == "bytes" else ""
    if t == "bool":
        return False
    if t.endswith("[]"):
        return []
    return 0


def test_amounts_enums_and_roles_are_readable() -> None:
    d = _decoder()
    sel = keccak256(b"JobEscrowWrongStatus(uint256,uint8,uint8)")[:4]
    err = d.decode(sel + encode(["uint256", "uint8", "uint8"], [7, 4, 1]))
    assert "JobEscrowWrongStatus(jobId=7, status=Cancelled, expected=Open)" in str(err)
    sel = keccak256(b"ERC20InsufficientBalance(address,uint256,uint256)")[:4]
    err = d.decode(
        sel + encode(["address", "uint256", "uint256"], ["0x" + "11" * 20, 15 * 10**17, 2 * 10**18])
    )
    assert "balance=1.5 GPUC" in str(err) and "holds 1.5 GPUC but needs 2 GPUC" in str(err)
    assert err.raw_args[1] == 15 * 10**17
    sel = keccak256(b"Unauthorized(address,bytes32)")[:4]
    err = d.decode(sel + encode(["address", "bytes32"], ["0x" + "22" * 20, b"guardian".ljust(32, b"\x00")]))
    assert 'role="guardian"' in str(err) and "only the guardian may do this" in str(err)


def test_string_panic_unknown_and_empty_reverts() -> None:
    d = _decoder()
    assert "the contract said: nope" in str(
        d.decode(bytes.fromhex("08c379a0") + encode(["string"], ["nope"]))
    )
    assert "arithmetic overflow" in str(d.decode(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])))
    assert d.decode(bytes.fromhex("deadbeef")).name == "UnknownError_0xdeadbeef"
    assert d.decode(b"").name == "EmptyRevert"
