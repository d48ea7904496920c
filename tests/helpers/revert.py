"""Expected reverts and events, compared the way brownie 1.22 reports them."""

from brownie.exceptions import decode_typed_error
from eth_abi import encode
from eth_utils import keccak


def _arg(value, abi_type):
    if abi_type == "address":
        return str(value)
    if abi_type.startswith("bytes") and isinstance(value, str):
        if value.startswith("0x"):
            return bytes.fromhex(value[2:])
        return value.encode().ljust(int(abi_type[5:]), b"\x00")
    return value


def typed_error(signature, *args):
    """The revert string brownie 1.22 reports for the custom error `signature` with `args`.

    The revert data is ABI-encoded here exactly as the EVM returns it and then decoded by brownie's
    own decoder, so `brownie.reverts(typed_error(...))` compares the selector and every argument.
    """
    types = [t for t in signature[signature.index("(") + 1 : -1].split(",") if t]
    assert len(types) == len(args), f"{signature} takes {len(types)} arguments, got {len(args)}"
    data = keccak(text=signature)[:4] + encode(types, [_arg(a, t) for a, t in zip(args, types)])
    text = decode_typed_error("0x" + data.hex())
    assert not text.startswith("Unknown typed error"), f"{signature} is in no compiled ABI"
    return text


def unauthorized(caller, role):
    return typed_error("Unauthorized(address,bytes32)", caller, role)


def wrong_status(job_id, status, expected):
    return typed_error("JobEscrowWrongStatus(uint256,uint8,uint8)", job_id, status, expected)


def assert_event(tx, name, emitter=None, **values):
    """`tx` emitted exactly one `name` event (from `emitter`, if given) with exactly these values."""
    events = [e for e in tx.events if e.name == name and (emitter is None or e.address == emitter.address)]
    assert len(events) == 1, f"expected one {name}, got {len(events)}"
    assert dict(events[0]) == values, f"{name}: {dict(events[0])} != {values}"
