"""Client inputs' own door (issue 13 meets issue 9, defect 4): PUT /v1/inputs/<sha256> takes a file
only when the client's account key signed its hash, size and expiry under this escrow's domain, and
only while the signer's quota has room, all checked before a byte of the body is read; the body
streams to disk, cut off at its signed size, and must hash to its name; GET streams it back (and
resumes with a Range); the oracle's one prune pass drops inputs a few days after their upload."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from eth_account import Account
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gpusettle.chain import Gpusettle
from gpusettle.eip712 import Domain, ReceiptVerifier
from gpusettle.oracle.app import IntakeSettings, OracleApp
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.inputs import InputFiles, InputQuota, QuotaExceeded
from gpusettle.oracle.service import OracleConfig, OracleService
from gpusettle.oracle.store import SQLiteStore
from gpusettle.signed_requests import INPUT_MAX_VALIDITY, input_upload_headers
from tests.oracle.helpers import CHAIN_ID, ESCROW, PROVIDER_CS, WORKER, offline_client, oracle_app

CLIENT_KEY = bytes.fromhex("66" * 32)
OTHER_CLIENT_KEY = bytes.fromhex("77" * 32)
DOMAIN = ReceiptVerifier(CHAIN_ID, ESCROW).domain
MAX_INPUT = 64 * 1024
QUOTA = InputQuota(window=3600.0, files=3, bytes=100_000, total_bytes=250_000)
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class BodyReads:
    """Counts the request body messages the app asked for: zero means the body was never read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.count += 1
            return message

        await self.app(scope, counted, send)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> Iterator[OracleApp]:
    store = SQLiteStore(tmp_path / "oracle.sqlite")
    oracle = oracle_app(
        store,
        tmp_path / "results",
        settings=IntakeSettings(max_input=MAX_INPUT, input_quota=QUOTA),
        clock=clock,
    )
    yield oracle
    oracle.close()
    store.close()


@pytest.fixture
def reads(app: OracleApp) -> BodyReads:
    return BodyReads(app.asgi())


@pytest.fixture
def http(reads: BodyReads) -> Iterator[TestClient]:
    with TestClient(reads) as client:
        yield client


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signed(
    data: bytes,
    *,
    key: bytes = CLIENT_KEY,
    domain: Domain = DOMAIN,
    name: str | None = None,
    size: int | None = None,
    expires: int | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """Headers signed by `key`, good for ten minutes after `now` (the oracle's clock)."""
    return input_upload_headers(
        domain,
        key,
        name or sha(data),
        len(data) if size is None else size,
        int(now or time.time()) + 600 if expires is None else expires,
    )


def put(
    http: TestClient,
    data: bytes,
    headers: dict[str, str] | None = None,
    name: str | None = None,
    now: float | None = None,
) -> Any:
    return http.put(
        f"/v1/inputs/{name or sha(data)}",
        content=data,
        headers=signed(data, now=now) if headers is None else headers,
    )


def stored(app: OracleApp) -> list[str]:
    assert app.inputs_dir is not None
    return sorted(p.name for p in app.inputs_dir.iterdir() if not p.name.endswith(".meta"))


def refused(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    doc = answer.json()
    assert doc["error"] == code and isinstance(doc["reason"], str) and doc["reason"]


# -- the happy path ----------------------------------------------------------------------------------------


def test_a_signed_input_is_stored_and_streams_back_whole_or_from_an_offset(
    http: TestClient, app: OracleApp
) -> None:
    data = os.urandom(3 * 65536 // 4 + 17)
    answer = put(http, data)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"stored": sha(data), "size": len(data)}
    back = http.get(f"/v1/inputs/{sha(data)}")
    assert back.status_code == 200 and back.content == data
    assert back.headers["content-type"] == "application/octet-stream"
    part = http.get(f"/v1/inputs/{sha(data)}", headers={"Range": "bytes=1000-"})
    assert part.status_code == 206 and part.content == data[1000:]
    assert part.headers["content-range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    refused(http.get(f"/v1/inputs/{sha(b'never uploaded')}"), 404, "unknown_input")
    refused(http.get(f"/v1/inputs/{sha(data)}", headers={"Range": "bytes=0-10,20-30"}), 416, "bad_range")
    refused(http.get("/v1/inputs/not-a-hash"), 400, "bad_hash")


def test_the_same_input_again_is_not_read_twice(http: TestClient, app: OracleApp, reads: BodyReads) -> None:
    data = b"weights" * 100
    assert put(http, data).status_code == 201
    before = reads.count
    assert before > 0, "the counter sees a body that is read"
    again = put(http, data)
    assert again.status_code == 200 and again.json()["existing"] is True
    assert reads.count == before, "the body of a known input was read"


# -- refused before the body is read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unsigned", 401, "unsigned_upload"),
        ("garbled-signature", 401, "unsigned_upload"),
        ("wrong-chain", 401, "unsigned_upload"),
        ("wrong-escrow", 401, "unsigned_upload"),
        ("expired", 401, "unsigned_upload"),
        ("expires-too-far-ahead", 401, "unsigned_upload"),
        ("signed-for-another-hash", 401, "unsigned_upload"),
        ("signed-for-another-size", 400, "size_mismatch"),
        ("size-not-a-number", 401, "unsigned_upload"),
        ("signed-size-over-the-limit", 413, "body_too_large"),
        ("path-not-a-sha256", 400, "bad_hash"),
    ],
)
def test_a_bad_signature_or_size_is_refused_before_the_body_is_read(
    http: TestClient, app: OracleApp, reads: BodyReads, case: str, status: int, code: str
) -> None:
    data = b"d" * 1000
    name = sha(data)
    headers = signed(data)
    path_name = name
    if case == "unsigned":
        headers = {}
    elif case == "garbled-signature":
        headers["x-gpusettle-signature"] = "0x" + "zz" * 64
    elif case == "wrong-chain":
        headers = signed(data, domain=Domain(CHAIN_ID + 1, ESCROW))
        headers["x-gpusettle-signer"] = Account.from_key(CLIENT_KEY).address
    elif case == "wrong-escrow":
        headers = signed(data, domain=Domain(CHAIN_ID, "0x" + "12" * 20))
        headers["x-gpusettle-signer"] = Account.from_key(CLIENT_KEY).address
    elif case == "expired":
        headers = signed(data, expires=int(time.time()) - 5)
    elif case == "expires-too-far-ahead":
        headers = signed(data, expires=int(time.time()) + INPUT_MAX_VALIDITY + 600)
    elif case == "signed-for-another-hash":
        headers = {
            **signed(b"other", size=len(data)),
            "x-gpusettle-signer": Account.from_key(CLIENT_KEY).address,
        }
    elif case == "signed-for-another-size":
        headers = signed(data, size=len(data) - 1)
    elif case == "size-not-a-number":
        headers["x-gpusettle-size"] = "a thousand"
    elif case == "signed-size-over-the-limit":
        headers = signed(data, size=MAX_INPUT + 1)
    else:
        path_name = "zz" * 32
    answer = http.put(f"/v1/inputs/{path_name}", content=data, headers=headers)
    refused(answer, status, code)
    assert reads.count == 0, "the body was read"
    assert stored(app) == []


# -- refused while or after reading ----------------------------------------------------------------------


def test_a_body_that_does_not_hash_to_its_name_is_dropped_and_costs_no_quota(
    http: TestClient, app: OracleApp
) -> None:
    real = b"the real data"
    fake = b"the fake data"  # same length
    refused(put(http, fake, headers=signed(real), name=sha(real)), 422, "hash_mismatch")
    assert stored(app) == []
    for i in range(QUOTA.files):  # the failed upload did not count
        assert put(http, f"input {i}".encode()).status_code == 201


def test_a_body_longer_than_signed_is_cut_off_and_a_shorter_one_refused(
    http: TestClient, app: OracleApp
) -> None:
    data = b"x" * 40_000
    chunk = 16_384

    def longer() -> Iterator[bytes]:  # no content-length: the cut must happen while streaming
        for _ in range(4):
            yield b"x" * chunk

    refused(
        http.put(f"/v1/inputs/{sha(data)}", content=longer(), headers=signed(data)), 413, "body_too_large"
    )

    def shorter() -> Iterator[bytes]:
        yield data[:1000]

    refused(
        http.put(f"/v1/inputs/{sha(data)}", content=shorter(), headers=signed(data)), 400, "size_mismatch"
    )
    assert stored(app) == []


def test_each_signer_has_a_quota_of_files_and_bytes_per_window(
    http: TestClient, app: OracleApp, clock: Clock, reads: BodyReads
) -> None:
    for i in range(QUOTA.files):
        assert put(http, f"small {i}".encode()).status_code == 201
    before = reads.count
    refused(put(http, b"one too many"), 429, "over_quota")
    assert reads.count == before, "an upload over quota was read"
    # Another key has its own quota; the first one's comes back as the window rolls on.
    other = b"from another client"
    assert put(http, other, headers=signed(other, key=OTHER_CLIENT_KEY)).status_code == 201
    clock.now += QUOTA.window + 1
    assert put(http, b"a new window", now=clock.now).status_code == 201

    big = os.urandom(60_000)
    bigger = os.urandom(50_000)
    assert put(http, big, headers=signed(big, key=OTHER_CLIENT_KEY, now=clock.now)).status_code == 201
    over = put(http, bigger, headers=signed(bigger, key=OTHER_CLIENT_KEY, now=clock.now))
    refused(over, 429, "over_quota")
    assert "100000-byte quota" in over.json()["reason"]


def test_all_inputs_together_are_bounded_whatever_the_number_of_keys(
    http: TestClient, app: OracleApp
) -> None:
    sent = 0
    for i in range(10):
        data = os.urandom(60_000)
        answer = put(http, data, headers=signed(data, key=bytes([i + 1]) * 32))
        if answer.status_code == 429:
            assert "holds" in answer.json()["reason"]
            break
        assert answer.status_code == 201
        sent += len(data)
    assert sent <= QUOTA.total_bytes and sent + 60_000 > QUOTA.total_bytes


def test_the_quota_survives_a_restart(tmp_path: Path) -> None:
    files = InputFiles(tmp_path, QUOTA)
    now = time.time()
    for i in range(QUOTA.files):
        data = f"input {i}".encode()
        reservation = files.reserve("0xAbC", len(data), now)
        upload = files.begin(len(data))
        assert upload.write(data)
        assert files.finish(upload, sha(data), reservation)
    again = InputFiles(tmp_path, QUOTA)
    with pytest.raises(QuotaExceeded, match="uploaded 3 inputs"):
        again.reserve("0xabc", 1, now + 1)


# -- retention -----------------------------------------------------------------------------------------


def test_the_prune_pass_drops_inputs_past_their_retention(tmp_path: Path) -> None:
    clock = Clock()
    service = OracleService(
        OracleConfig(data_dir=tmp_path / "oracle", post=False, dispute_window=int(DAY), prune_every=60.0),
        client_factory=lambda: cast(Gpusettle, offline_client()),
        oracle_account=Account.from_key(bytes.fromhex("44" * 32)),
        view=StaticChainView(CHAIN_ID, ESCROW, {PROVIDER_CS: WORKER}),
        clock=clock,
    )
    assert service.config.input_retention == 3 * DAY  # the default
    old, young = b"uploaded first", b"uploaded a day later"
    try:
        with TestClient(service.app.asgi()) as http:
            assert put(http, old).status_code == 201
            clock.now += DAY
            assert put(http, young, now=clock.now).status_code == 201
            clock.now += 2 * DAY + 60  # old: 3 days and a minute; young: 2 days and a minute
            service.prune_once()
            assert http.get(f"/v1/inputs/{sha(old)}").status_code == 404
            assert http.get(f"/v1/inputs/{sha(young)}").content == young
            # Uploading again restarts the clock; a re-upload of the pruned one is a fresh upload.
            assert put(http, young, now=clock.now).status_code == 200
            clock.now += DAY + 60
            service.prune_once()
            assert http.get(f"/v1/inputs/{sha(young)}").status_code == 200
            assert put(http, old, now=clock.now).status_code == 201
    finally:
        service.app.close()
        service.store.close()
