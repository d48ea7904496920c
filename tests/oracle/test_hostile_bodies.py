"""Hostile and malformed bodies POSTed to /v1/receipts (issue 5, "Bad input"): every one is answered with
the 4xx its kind calls for and a JSON reason, nothing is stored, and the oracle answers the next request.

No speed threshold here (timed tests fail under load; speed figures come from `make bench`): each request
only has to be answered within LIVENESS_TIMEOUT, a generous bound that tells a hung server from a slow one."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from eth_account import Account
from starlette.testclient import TestClient

from gpusettle.chain import OracleSet
from gpusettle.eip712 import Domain, ReceiptVerifier
from gpusettle.hashing import keccak256
from gpusettle.oracle.app import IntakeSettings, OracleApp
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.store import SQLiteStore
from gpusettle.signed_requests import input_upload_headers, peer_request_headers, result_upload_headers
from tests.oracle.helpers import (
    CHAIN_ID,
    ESCROW,
    PROVIDER_CS,
    WORKER,
    WORKER_KEY,
    job,
    oracle_app,
    receipt,
    submission,
)

MAX_BODY = 64 * 1024  # room for the deeply nested documents to reach the parser
LIVENESS_TIMEOUT = 30.0
"""Seconds a request may go unanswered before the server counts as hung (liveness, not speed)."""
T = TypeVar("T")


def answered(call: Callable[[], T], what: str, timeout: float = LIVENESS_TIMEOUT) -> T:
    """`call()`'s result, failing the test when it has not returned within LIVENESS_TIMEOUT (the call runs
    in a daemon thread, so a hung server fails this test instead of hanging the suite)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name="hostile-request", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        pytest.fail(f"{what}: no answer within {timeout:g} s (the server hung)")
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


JSON = {"content-type": "application/json"}
UINT256_MAX = 2**256 - 1
JOB = 77


def good() -> dict[str, Any]:
    return submission(receipt(JOB))


def enc(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def with_receipt(**fields: Any) -> bytes:
    doc = good()
    doc["receipt"].update(fields)
    return enc(doc)


def without_receipt(name: str) -> bytes:
    doc = good()
    del doc["receipt"][name]
    return enc(doc)


def without(name: str) -> bytes:
    doc = good()
    del doc[name]
    return enc(doc)


def top(**fields: Any) -> bytes:
    return enc({**good(), **fields})


def lower_checksum_flip(address: str) -> str:
    """The address with the case of its first letter flipped: an EIP-55 checksum that does not verify."""
    chars = list(address)
    for i, c in enumerate(chars[2:], start=2):
        if c.isalpha():
            chars[i] = c.swapcase()
            break
    return "".join(chars)


def duplicate_keys() -> bytes:
    doc = good()
    text = enc(doc).decode()
    # a second "receipt" key after the good one: whichever a parser keeps, the document is not the signed one
    return (text[:-1] + ', "receipt": {"jobId": 1}}').encode()


def duplicate_job_id() -> bytes:
    text = enc(good()).decode()
    return text.replace(f'"jobId": {JOB}', f'"jobId": {JOB}, "jobId": {JOB + 1}', 1).encode()


R = good()["r"]

# (test id, body factory, headers); bodies are built per test because receipts carry the current time
CASES: list[tuple[str, Callable[[], bytes], dict[str, str]]] = [
    # framing
    ("empty-body", lambda: b"", JSON),
    ("whitespace-only", lambda: b"   \n\t ", JSON),
    ("truncated-json", lambda: enc(good())[:-7], JSON),
    ("trailing-garbage", lambda: enc(good()) + b"xyz", JSON),
    ("two-documents", lambda: enc(good()) + enc(good()), JSON),
    ("single-quotes", lambda: enc(good()).replace(b'"', b"'"), JSON),
    ("nan-literal", lambda: with_receipt(gpuSeconds=float("nan")), JSON),
    ("infinity-literal", lambda: with_receipt(gpuSeconds=float("inf")), JSON),
    ("not-utf8", lambda: b'{"receipt": "\xff\xfe\xfd"}', JSON),
    ("utf16-encoded", lambda: enc(good()).decode().encode("utf-16"), JSON),
    ("lone-surrogate-escape", lambda: b'{"receipt": {"jobId": "\\ud800"}}', JSON),
    # top level that is not an object
    ("top-null", lambda: b"null", JSON),
    ("top-array", lambda: enc([good()]), JSON),
    ("top-string", lambda: b'"receipt"', JSON),
    ("top-number", lambda: b"12345", JSON),
    ("top-true", lambda: b"true", JSON),
    ("top-empty-object", lambda: b"{}", JSON),
    # deep nesting
    ("nested-arrays-10000", lambda: b"[" * 10_000 + b"]" * 10_000, JSON),
    ("nested-objects-10000", lambda: b'{"a":' * 10_000 + b"1" + b"}" * 10_000, JSON),
    ("nested-in-receipt-5000", lambda: b'{"receipt":' + b"[" * 5_000 + b"]" * 5_000 + b"}", JSON),
    ("unclosed-nesting-20000", lambda: b"[" * 20_000, JSON),
    # missing fields
    ("missing-receipt", lambda: without("receipt"), JSON),
    ("missing-r", lambda: without("r"), JSON),
    ("missing-vs", lambda: without("vs"), JSON),
    ("missing-jobId", lambda: without_receipt("jobId"), JSON),
    ("missing-provider", lambda: without_receipt("provider"), JSON),
    ("missing-gpuSeconds", lambda: without_receipt("gpuSeconds"), JSON),
    ("missing-resultHash", lambda: without_receipt("resultHash"), JSON),
    ("missing-endTime", lambda: without_receipt("endTime"), JSON),
    # extra fields
    ("extra-top-field", lambda: top(admin=True), JSON),
    ("extra-receipt-field", lambda: with_receipt(paid=True), JSON),
    ("proto-pollution", lambda: top(__proto__={"admin": True}), JSON),
    # wrong types
    ("jobId-string", lambda: with_receipt(jobId="seventy-seven"), JSON),
    ("jobId-float", lambda: with_receipt(jobId=77.5), JSON),
    ("jobId-bool", lambda: with_receipt(jobId=True), JSON),
    ("jobId-null", lambda: with_receipt(jobId=None), JSON),
    ("jobId-list", lambda: with_receipt(jobId=[JOB]), JSON),
    ("gpuSeconds-object", lambda: with_receipt(gpuSeconds={"n": 100}), JSON),
    ("receipt-is-string", lambda: top(receipt="0x00"), JSON),
    ("receipt-is-list", lambda: top(receipt=[1, 2, 3]), JSON),
    ("r-is-int", lambda: top(r=12345), JSON),
    ("outcome-unknown", lambda: with_receipt(outcome="Paid"), JSON),
    ("outcome-out-of-range", lambda: with_receipt(outcome=99), JSON),
    # huge and negative numbers
    ("jobId-negative", lambda: with_receipt(jobId=-1), JSON),
    ("gpuSeconds-negative", lambda: with_receipt(gpuSeconds=-100), JSON),
    ("startTime-negative", lambda: with_receipt(startTime=-5), JSON),
    ("jobId-uint256-overflow", lambda: with_receipt(jobId=UINT256_MAX + 1), JSON),
    ("gpuSeconds-uint256-max", lambda: with_receipt(gpuSeconds=UINT256_MAX), JSON),
    ("jobId-10000-digits", lambda: b'{"receipt": {"jobId": ' + b"9" * 10_000 + b"}}", JSON),
    ("gpuSeconds-exponent", lambda: with_receipt(gpuSeconds=1e308), JSON),
    ("endTime-before-start", lambda: with_receipt(endTime=0), JSON),
    # hex lengths and alphabets
    ("r-short", lambda: top(r=R[:-2]), JSON),
    ("r-long", lambda: top(r=R + "00"), JSON),
    ("r-no-prefix", lambda: top(r=R[2:]), JSON),
    ("r-empty", lambda: top(r=""), JSON),
    ("r-non-hex", lambda: top(r="0x" + "zz" * 32), JSON),
    ("vs-odd-length", lambda: top(vs="0x" + "a" * 63), JSON),
    ("resultHash-20-bytes", lambda: with_receipt(resultHash="0x" + "ab" * 20), JSON),
    ("provider-short", lambda: with_receipt(provider=PROVIDER_CS[:-2]), JSON),
    ("provider-long", lambda: with_receipt(provider=PROVIDER_CS + "00"), JSON),
    ("provider-bad-checksum", lambda: with_receipt(provider=lower_checksum_flip(PROVIDER_CS)), JSON),
    ("provider-zero", lambda: with_receipt(provider="0x" + "00" * 20), JSON),
    # unicode tricks
    ("r-fullwidth-digits", lambda: top(r="0x" + "\uff10" * 64), JSON),
    ("r-cyrillic-a-homoglyph", lambda: top(r=R[:-1] + "\u0430"), JSON),
    ("r-arabic-indic-digits", lambda: top(r="0x" + "\u0661" * 64), JSON),
    ("provider-rtl-mark", lambda: with_receipt(provider="\u200f" + PROVIDER_CS), JSON),
    (
        "provider-rtl-override",
        lambda: with_receipt(provider=PROVIDER_CS[:10] + "\u202e" + PROVIDER_CS[10:]),
        JSON,
    ),
    ("provider-zero-width-space", lambda: with_receipt(provider=PROVIDER_CS + "\u200b"), JSON),
    ("r-nul-byte", lambda: top(r=R[:-1] + "\x00"), JSON),
    ("raw-nul-in-body", lambda: enc(good())[:20] + b"\x00" + enc(good())[20:], JSON),
    ("bom-prefixed-garbage", lambda: b"\xef\xbb\xbf" + b"{receipt}", JSON),
    # duplicate keys
    ("duplicate-receipt-key", duplicate_keys, JSON),
    ("duplicate-jobId-key", duplicate_job_id, JSON),
    # content types with a hostile body
    ("form-encoded", lambda: b"receipt=1&r=2&vs=3", {"content-type": "application/x-www-form-urlencoded"}),
    ("text-plain-garbage", lambda: b"hello oracle", {"content-type": "text/plain"}),
    ("xml", lambda: b"<receipt><jobId>1</jobId></receipt>", {"content-type": "application/xml"}),
    ("multipart", lambda: b"--x\r\n\r\n{}\r\n--x--", {"content-type": "multipart/form-data; boundary=x"}),
    ("octet-stream-binary", lambda: bytes(range(256)), {"content-type": "application/octet-stream"}),
    # oversized
    ("oversized-padding", lambda: b'{"pad":"' + b"x" * (MAX_BODY + 10) + b'"}', JSON),
    ("oversized-1mib", lambda: b"[" + b"1," * (512 * 1024) + b"1]", JSON),
]

MALFORMED = {
    "empty-body", "whitespace-only", "truncated-json", "trailing-garbage", "two-documents", "single-quotes",
    "not-utf8", "utf16-encoded", "lone-surrogate-escape", "nested-arrays-10000", "nested-objects-10000",
    "nested-in-receipt-5000", "unclosed-nesting-20000", "jobId-10000-digits", "raw-nul-in-body",
    "bom-prefixed-garbage",
}  # fmt: skip
"""Bodies that are not one JSON document the parser accepts (bad framing, encoding, nesting, a number past
the parser's digit limit): 400 malformed_json."""


def expected(name: str) -> tuple[int, set[str]]:
    """The status and error codes the oracle's intake rules give case `name`: not JSON at all 400, too
    large 413, not declared as JSON 415, JSON that is not a valid signed receipt 422."""
    if name in MALFORMED:
        return 400, {"malformed_json"}
    if name.startswith("oversized-"):
        return 413, {"body_too_large"}
    if name in ("form-encoded", "text-plain-garbage", "xml", "multipart", "octet-stream-binary"):
        return 415, {"unsupported_media_type"}
    # provider-zero parses but no worker key is registered for it; duplicate-jobId-key keeps the last jobId,
    # which the worker did not sign.
    return 422, {"invalid_receipt", "no_worker_key", "bad_signature"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, SQLiteStore]]:
    tmp: Path = tmp_path_factory.mktemp("hostile")
    store = SQLiteStore(tmp / "oracle.sqlite")
    app = oracle_app(
        store,
        tmp / "results",
        settings=IntakeSettings(max_body=MAX_BODY, max_result=4096),
    )
    with TestClient(app.asgi()) as client:
        yield client, store
    store.close()


def nothing_stored(client: TestClient, store: SQLiteStore) -> None:
    assert sum(store.counts().values()) == 0, store.counts()
    assert answered(lambda: client.get(f"/v1/receipts/{JOB}"), "the next request").status_code == 404
    health = answered(lambda: client.get("/health"), "/health after the hostile body")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert sum(health.json()["receipts"].values()) == 0


def test_the_liveness_check_fails_a_call_that_never_returns() -> None:
    hung = threading.Event()
    with pytest.raises(pytest.fail.Exception, match="a hung call: no answer within 0.2 s"):
        answered(hung.wait, "a hung call", timeout=0.2)
    hung.set()
    assert answered(lambda: 7, "a quick call") == 7


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 50
    assert MALFORMED <= {name for name, _, _ in CASES}
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "content", "headers"), CASES, ids=[c[0] for c in CASES])
def test_hostile_body_gets_its_4xx_with_a_reason_and_the_oracle_stays_up(
    world: tuple[TestClient, SQLiteStore], name: str, content: Callable[[], bytes], headers: dict[str, str]
) -> None:
    client, store = world
    data = content()
    response = answered(lambda: client.post("/v1/receipts", content=data, headers=headers), name)
    status, codes = expected(name)
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert isinstance(answer, dict)
    assert answer.get("error") in codes, answer
    assert isinstance(answer.get("reason"), str) and answer["reason"]
    nothing_stored(client, store)


# -- the other doors: result uploads and peer requests (issue 9, defect 4) ---------------------------------

PEER_KEY = bytes.fromhex("44" * 32)
STRANGER_KEY = bytes.fromhex("55" * 32)
UPLOAD_LIMIT = 4096
PAYLOAD = b"p" * 100
PAYLOAD_HASH = "0x" + keccak256(PAYLOAD).hex()
DOMAIN = ReceiptVerifier(CHAIN_ID, ESCROW).domain
RUNNING_JOB = 5


def _upload_headers(
    key: bytes = WORKER_KEY, job_id: int = RUNNING_JOB, name: str = PAYLOAD_HASH
) -> dict[str, str]:
    return result_upload_headers(DOMAIN, key, job_id, name)


def _peer_headers(
    body: bytes, key: bytes = PEER_KEY, at: int | None = None, signer: str | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    address = signer or Account.from_key(key).address
    return peer_request_headers(
        DOMAIN, key, Account.from_key(key).address, "POST", "/v1/cosign", stamp, body
    ) | {"x-gpusettle-signer": address}


CLIENT_KEY = bytes.fromhex("66" * 32)
INPUT = b"i" * 100
INPUT_SHA = hashlib.sha256(INPUT).hexdigest()


def _input_headers(
    key: bytes = CLIENT_KEY,
    name: str = INPUT_SHA,
    size: int = len(INPUT),
    expires_in: int = 600,
    domain: Domain = DOMAIN,
) -> dict[str, str]:
    return input_upload_headers(domain, key, name, size, int(time.time()) + expires_in)


def _input_claiming_client(**kwargs: Any) -> dict[str, str]:
    """Signed under other terms, but claiming the client's address (as a replay would)."""
    return _input_headers(**kwargs) | {"x-gpusettle-signer": Account.from_key(CLIENT_KEY).address}


COSIGN = json.dumps({"epoch": 1, "receipts": [], "specs": {}}).encode()
SSRF = json.dumps({"epoch": 1, "receipts": [], "results_url": "http://169.254.169.254/latest"}).encode()

# (test id, method, path, body factory, headers factory)
DOOR_CASES: list[tuple[str, str, str, Callable[[], bytes], Callable[[], dict[str, str]]]] = [
    ("upload-unsigned", "PUT", f"/v1/results/{PAYLOAD_HASH}", lambda: PAYLOAD, dict),
    (
        "upload-garbled-signature",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: PAYLOAD,
        lambda: {"x-gpusettle-job": "5", "x-gpusettle-signature": "0xnothex"},
    ),
    (
        "upload-short-signature",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: PAYLOAD,
        lambda: {"x-gpusettle-job": "5", "x-gpusettle-signature": "0x" + "11" * 63},
    ),
    (
        "upload-job-not-a-number",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: PAYLOAD,
        lambda: {**_upload_headers(), "x-gpusettle-job": "five"},
    ),
    (
        "upload-job-negative",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: PAYLOAD,
        lambda: {**_upload_headers(), "x-gpusettle-job": "-5"},
    ),
    (
        "upload-job-10000-digits",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: PAYLOAD,
        lambda: {**_upload_headers(), "x-gpusettle-job": "9" * 10_000},
    ),
    (
        "upload-unknown-job",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: PAYLOAD,
        lambda: _upload_headers(job_id=6),
    ),
    (
        "upload-stranger-key",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: PAYLOAD,
        lambda: _upload_headers(key=STRANGER_KEY),
    ),
    (
        "upload-signed-for-other-payload",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: PAYLOAD,
        lambda: _upload_headers(name="0x" + "00" * 32),
    ),
    (
        "upload-hash-mismatch",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: PAYLOAD + b"!",
        _upload_headers,
    ),
    (
        "upload-oversized",
        "PUT",
        f"/v1/results/{PAYLOAD_HASH}",
        lambda: b"o" * (UPLOAD_LIMIT + 1),
        _upload_headers,
    ),
    ("upload-path-not-a-hash", "PUT", "/v1/results/..%2F..%2Fetc%2Fpasswd", lambda: PAYLOAD, _upload_headers),
    ("upload-hash-uppercase-junk", "PUT", "/v1/results/0X" + "ZZ" * 32, lambda: PAYLOAD, _upload_headers),
    ("input-unsigned", "PUT", f"/v1/inputs/{INPUT_SHA}", lambda: INPUT, dict),
    (
        "input-garbled-signature",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: INPUT,
        lambda: _input_headers() | {"x-gpusettle-signature": "0xnothex"},
    ),
    (
        "input-wrong-chain",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: INPUT,
        lambda: _input_claiming_client(domain=Domain(CHAIN_ID + 1, ESCROW)),
    ),
    (
        "input-wrong-escrow",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: INPUT,
        lambda: _input_claiming_client(domain=Domain(CHAIN_ID, "0x" + "ee" * 20)),
    ),
    ("input-expired", "PUT", f"/v1/inputs/{INPUT_SHA}", lambda: INPUT, lambda: _input_headers(expires_in=-1)),
    (
        "input-expires-next-year",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: INPUT,
        lambda: _input_headers(expires_in=365 * 86400),
    ),
    (
        "input-expires-past-uint64",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: INPUT,
        lambda: _input_headers() | {"x-gpusettle-expires": str(2**64)},
    ),
    (
        "input-size-negative",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: INPUT,
        lambda: _input_headers() | {"x-gpusettle-size": "-100"},
    ),
    (
        "input-signed-for-other-file",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: INPUT,
        lambda: _input_claiming_client(name="00" * 32),
    ),
    (
        "input-claims-another-signer",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: INPUT,
        lambda: (
            _input_headers(key=STRANGER_KEY) | {"x-gpusettle-signer": Account.from_key(CLIENT_KEY).address}
        ),
    ),
    (
        "input-body-longer-than-signed",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: INPUT + b"!",
        _input_headers,
    ),
    ("input-hash-mismatch", "PUT", f"/v1/inputs/{INPUT_SHA}", lambda: b"j" * 100, _input_headers),
    (
        "input-signed-size-over-limit",
        "PUT",
        f"/v1/inputs/{INPUT_SHA}",
        lambda: b"o" * (UPLOAD_LIMIT + 1),
        lambda: _input_headers(size=UPLOAD_LIMIT + 1),
    ),
    ("input-path-traversal", "PUT", "/v1/inputs/..%2F..%2Foracle.sqlite", lambda: INPUT, _input_headers),
    ("input-path-0x-keccak", "PUT", f"/v1/inputs/0x{INPUT_SHA}", lambda: INPUT, _input_headers),
    ("cosign-unsigned", "POST", "/v1/cosign", lambda: COSIGN, dict),
    (
        "cosign-stranger",
        "POST",
        "/v1/cosign",
        lambda: COSIGN,
        lambda: _peer_headers(COSIGN, key=STRANGER_KEY),
    ),
    (
        "cosign-stale",
        "POST",
        "/v1/cosign",
        lambda: COSIGN,
        lambda: _peer_headers(COSIGN, at=int(time.time()) - 86_400),
    ),
    (
        "cosign-from-the-future",
        "POST",
        "/v1/cosign",
        lambda: COSIGN,
        lambda: _peer_headers(COSIGN, at=int(time.time()) + 86_400),
    ),
    (
        "cosign-timestamp-not-a-number",
        "POST",
        "/v1/cosign",
        lambda: COSIGN,
        lambda: {**_peer_headers(COSIGN), "x-gpusettle-timestamp": "yesterday"},
    ),
    (
        "cosign-claims-another-signer",
        "POST",
        "/v1/cosign",
        lambda: COSIGN,
        lambda: _peer_headers(COSIGN, key=STRANGER_KEY, signer=Account.from_key(PEER_KEY).address),
    ),
    ("cosign-body-swapped", "POST", "/v1/cosign", lambda: SSRF, lambda: _peer_headers(COSIGN)),
    ("cosign-results-url-ssrf", "POST", "/v1/cosign", lambda: SSRF, lambda: _peer_headers(SSRF)),
    ("cosign-not-json", "POST", "/v1/cosign", lambda: b"{epoch", lambda: _peer_headers(b"{epoch")),
    (
        "cosign-oversized",
        "POST",
        "/v1/cosign",
        lambda: b" " * (UPLOAD_LIMIT * 2),
        lambda: _peer_headers(b" " * (UPLOAD_LIMIT * 2)),
    ),
]


class _Cosigner:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: Any, signer: str) -> tuple[int, dict[str, Any]]:
        self.calls += 1
        return 200, {"signer": signer}


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, OracleApp, _Cosigner]]:
    tmp: Path = tmp_path_factory.mktemp("doors")
    store = SQLiteStore(tmp / "oracle.sqlite")
    cosigner = _Cosigner()
    view = StaticChainView(
        CHAIN_ID,
        ESCROW,
        {PROVIDER_CS: WORKER},
        jobs={RUNNING_JOB: job(RUNNING_JOB)},
        oracle_set=OracleSet((Account.from_key(PEER_KEY).address,), 1, 1),
    )
    app = oracle_app(
        store,
        tmp / "results",
        view,
        settings=IntakeSettings(max_result=UPLOAD_LIMIT, max_cosign=UPLOAD_LIMIT, max_input=UPLOAD_LIMIT),
        cosign=cosigner,
    )
    with TestClient(app.asgi()) as client:
        yield client, app, cosigner
    app.close()
    store.close()


def test_door_corpus_is_big_enough() -> None:
    assert len(DOOR_CASES) >= 20
    assert len({c[0] for c in DOOR_CASES}) == len(DOOR_CASES)


_UNSIGNED_UPLOAD = (401, "unsigned_upload")
_UNSIGNED_PEER = (401, "unsigned_peer_request")
DOOR_EXPECTED: dict[str, tuple[int, str | None]] = {
    # no valid signature over this request: 401
    "upload-unsigned": _UNSIGNED_UPLOAD,
    "upload-garbled-signature": _UNSIGNED_UPLOAD,
    "upload-short-signature": _UNSIGNED_UPLOAD,
    "input-unsigned": _UNSIGNED_UPLOAD,
    "input-garbled-signature": _UNSIGNED_UPLOAD,
    "input-wrong-chain": _UNSIGNED_UPLOAD,
    "input-wrong-escrow": _UNSIGNED_UPLOAD,
    "input-expired": _UNSIGNED_UPLOAD,
    "input-expires-next-year": _UNSIGNED_UPLOAD,
    "input-expires-past-uint64": _UNSIGNED_UPLOAD,
    "input-size-negative": _UNSIGNED_UPLOAD,
    "input-signed-for-other-file": _UNSIGNED_UPLOAD,
    "input-claims-another-signer": _UNSIGNED_UPLOAD,
    "cosign-unsigned": _UNSIGNED_PEER,
    "cosign-stale": _UNSIGNED_PEER,
    "cosign-from-the-future": _UNSIGNED_PEER,
    "cosign-timestamp-not-a-number": _UNSIGNED_PEER,
    "cosign-claims-another-signer": _UNSIGNED_PEER,
    "cosign-body-swapped": _UNSIGNED_PEER,
    # signed, but by a key that may not do this: 403
    "upload-stranger-key": (403, "not_the_worker"),
    "upload-signed-for-other-payload": (403, "not_the_worker"),
    "cosign-stranger": (403, "not_an_oracle_peer"),
    # a header or path that is not what it must be: 400
    "upload-job-not-a-number": (400, "bad_job_id"),
    "upload-job-negative": (400, "bad_job_id"),
    "upload-job-10000-digits": (400, "bad_job_id"),
    "upload-hash-uppercase-junk": (400, "bad_hash"),
    "input-path-0x-keccak": (400, "bad_hash"),
    "input-body-longer-than-signed": (400, "size_mismatch"),
    # nothing there: 404 (None: no route matches, so the router answers, without a JSON body)
    "upload-unknown-job": (404, "unknown_job"),
    "upload-path-not-a-hash": (404, None),
    "input-path-traversal": (404, None),
    # too large: 413
    "upload-oversized": (413, "body_too_large"),
    "input-signed-size-over-limit": (413, "body_too_large"),
    "cosign-oversized": (413, "body_too_large"),
    # well-formed and signed, but the content is wrong: 422
    "upload-hash-mismatch": (422, "hash_mismatch"),
    "input-hash-mismatch": (422, "hash_mismatch"),
    "cosign-not-json": (422, "invalid_request"),
    "cosign-results-url-ssrf": (422, "invalid_request"),
}
"""The status and error code each door case gets under the oracle's rules."""


def test_every_door_case_has_its_expected_answer() -> None:
    assert set(DOOR_EXPECTED) == {c[0] for c in DOOR_CASES}


@pytest.mark.parametrize(
    ("name", "method", "path", "content", "headers"), DOOR_CASES, ids=[c[0] for c in DOOR_CASES]
)
def test_hostile_upload_or_peer_request_gets_its_4xx_and_the_oracle_stays_up(
    doors: tuple[TestClient, OracleApp, _Cosigner],
    name: str,
    method: str,
    path: str,
    content: Callable[[], bytes],
    headers: Callable[[], dict[str, str]],
) -> None:
    client, app, cosigner = doors
    calls = cosigner.calls
    data, sent = content(), headers()
    response = answered(lambda: client.request(method, path, content=data, headers=sent), name)
    status, code = DOOR_EXPECTED[name]
    assert response.status_code == status, (response.status_code, response.text[:500])
    if code is not None:
        answer = response.json()
        assert answer.get("error") == code, answer
        assert isinstance(answer.get("reason"), str) and answer["reason"]
    assert cosigner.calls == calls, "a hostile peer request reached the co-signer"
    assert list(app.results_dir.iterdir()) == [], "something was stored"
    assert app.inputs_dir is not None and list(app.inputs_dir.iterdir()) == [], "an input was stored"
    # The next requests are answered as usual.
    assert answered(lambda: client.get(f"/v1/results/{PAYLOAD_HASH}"), "the next request").status_code == 404
    assert answered(lambda: client.get(f"/v1/inputs/{INPUT_SHA}"), "the next request").status_code == 404
    assert answered(lambda: client.get("/health"), "/health after the hostile request").status_code == 200
