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


def revert_message(exc, attempts=10, pause=0.2):
    """The revert string of a failed transaction (`VirtualMachineError`), as brownie reports it.

    brownie 1.22 learns a mined transaction's revert data from a trace it asks the node for; under load that request
    can fail, and the error then carries no message ("revert None"): a long fuzz run ended on that once. The revert
    data is then read from the node's call trace of the same transaction, which is deterministic (the mined block,
    not a replay at a later time), and decoded as brownie decodes it."""
    import time

    from brownie import web3

    if exc.revert_msg is not None or not exc.txid:
        return exc.revert_msg
    for _ in range(attempts):
        resp = web3.provider.make_request("debug_traceTransaction", [exc.txid, {"tracer": "callTracer"}])
        output = (resp.get("result") or {}).get("output")
        if output and output != "0x":
            return decode_typed_error(output)
        time.sleep(pause)
    return None
