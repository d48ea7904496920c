from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak
from pydantic import ValidationError

from gpusettle.errors import ConfigError
from gpusettle.models import (
    DeploymentRecord,
    JobReceipt,
    JobSpec,
    MatmulWorkload,
    NetworkSettings,
    Offer,
    Outcome,
    ReceiptEvidence,
    SignedReceipt,
)

PROVIDER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # the EIP-55 specification's first example


def receipt_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "jobId": 7,
        "provider": PROVIDER,
        "gpuSeconds": 3600,
        "startTime": 1_700_000_000,
        "endTime": 1_700_000_450,
        "resultHash": "0x" + "ab" * 32,
        "outcome": 0,
    }
    fields.update(overrides)
    return fields


def error_text(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " | ".join(str(e["msg"]) for e in exc.value.errors())


def test_valid_receipt_round_trips_through_json() -> None:
    receipt = JobReceipt(**receipt_fields(outcome=2))
    assert receipt.outcome is Outcome.FAILED_PROVIDER
    again = JobReceipt.model_validate_json(receipt.model_dump_json())
    assert again == receipt
    assert receipt.as_tuple() == (7, PROVIDER, 3600, 1_700_000_000, 1_700_000_450, b"\xab" * 32, 2)


def test_lowercase_address_is_normalised_to_checksum() -> None:
    receipt = JobReceipt(**receipt_fields(provider=PROVIDER.lower()))
    assert receipt.provider == PROVIDER


def test_bad_checksum_rejected() -> None:
    wrong = PROVIDER[:3] + PROVIDER[3].upper() + PROVIDER[4:]  # flip the case of one letter ("a" -> "A")
    assert wrong != PROVIDER
    with pytest.raises(ValidationError) as exc:
        JobReceipt(**receipt_fields(provider=wrong))
    assert "wrong EIP-55 checksum" in error_text(exc)
    assert PROVIDER in error_text(exc)


def test_checksums_are_cached_but_a_bad_one_is_refused_every_time() -> None:
    """Intake validates the same few providers again and again, so checksums are cached: the cache must
    never turn a refusal into an acceptance, whatever came before."""
    wrong = PROVIDER[:3] + PROVIDER[3].upper() + PROVIDER[4:]
    for _ in range(3):
        assert JobReceipt(**receipt_fields(provider=PROVIDER.lower())).provider == PROVIDER
        assert JobReceipt(**receipt_fields(provider=PROVIDER)).provider == PROVIDER
        with pytest.raises(ValidationError, match="wrong EIP-55 checksum"):
            JobReceipt(**receipt_fields(provider=wrong))


@pytest.mark.parametrize("address", ["0x1234", PROVIDER + "00", PROVIDER[2:], "0x" + "g" * 40])
def test_malformed_address_rejected(address: str) -> None:
    with pytest.raises(ValidationError) as exc:
        JobReceipt(**receipt_fields(provider=address))
    assert "40 hex digits" in error_text(exc)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0x" + "ab" * 31, "got 62 hex digits"),
        ("0x" + "ab" * 33, "got 66 hex digits"),
        ("ab" * 32, "must start with 0x"),
        ("0x" + "xy" * 32, "not hex digits"),
    ],
)
def test_bad_bytes32_rejected(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        JobReceipt(**receipt_fields(resultHash=value))
    assert message in error_text(exc)


def test_result_hash_is_lowercased() -> None:
    assert JobReceipt(**receipt_fields(resultHash="0x" + "AB" * 32)).resultHash == "0x" + "ab" * 32


def test_extra_field_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        JobReceipt(**receipt_fields(gpuSecond=5))
    assert "Extra inputs are not permitted" in error_text(exc)


@pytest.mark.parametrize(
    "overrides",
    [
        {"gpuSeconds": 2**64},
        {"gpuSeconds": -1},
        {"startTime": 2**64, "endTime": 2**64},
        {"jobId": 2**256},
        {"outcome": 3},
        {"outcome": True},
        {"jobId": "7"},
        {"gpuSeconds": 1.0},
    ],
)
def test_out_of_range_or_loosely_typed_numbers_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        JobReceipt(**receipt_fields(**overrides))


def test_uint_bounds_accepted() -> None:
    receipt = JobReceipt(**receipt_fields(jobId=2**256 - 1, gpuSeconds=2**64 - 1, endTime=2**64 - 1))
    assert receipt.jobId == 2**256 - 1


def test_end_before_start_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        JobReceipt(**receipt_fields(startTime=100, endTime=99))
    assert "before startTime" in error_text(exc)


def test_signed_receipt_with_evidence() -> None:
    signed = SignedReceipt.model_validate(
        {
            "receipt": receipt_fields(),
            "r": "0x" + "11" * 32,
            "vs": "0x" + "22" * 32,
            "evidence": {"gpu_names": ["NVIDIA H100"], "gpu_uuids": ["GPU-1"], "mean_utilisation": 97.5},
            "result": {"uri": "file:///tmp/c.npy", "content_hash": "0x" + "33" * 32, "size_bytes": 128},
        }
    )
    assert signed.evidence is not None and signed.evidence.mean_utilisation == 97.5
    with pytest.raises(ValidationError):
        SignedReceipt.model_validate({**signed.model_dump(), "r": "0x11"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        SignedReceipt.model_validate({**signed.model_dump(), "v": 27})


def test_evidence_checks() -> None:
    with pytest.raises(ValidationError, match="one UUID per GPU"):
        ReceiptEvidence(gpu_names=["a", "b"], gpu_uuids=["x"])
    with pytest.raises(ValidationError):
        ReceiptEvidence(mean_utilisation=101.0)
    assert ReceiptEvidence().failure_reason is None


def test_spec_hash_is_keccak_of_canonical_json() -> None:
    spec = JobSpec.model_validate({"workload": {"kind": "matmul", "seed": 9, "n": 256, "repetitions": 4}})
    canonical = b'{"workload":{"dtype":"float32","kind":"matmul","n":256,"repetitions":4,"seed":9}}'
    assert spec.canonical_json() == canonical
    assert spec.spec_hash() == "0x" + keccak(canonical).hex()
    assert isinstance(spec.workload, MatmulWorkload) and spec.kind == "matmul"
    # Key order and whitespace in the input do not change the hash.
    reordered = JobSpec.model_validate_json(
        '{ "workload" : { "repetitions": 4, "n": 256, "seed": 9, "kind": "matmul", "dtype": "float32" } }'
    )
    assert reordered.spec_hash() == spec.spec_hash()
    other = JobSpec.model_validate({"workload": {"kind": "matmul", "seed": 10, "n": 256, "repetitions": 4}})
    assert other.spec_hash() != spec.spec_hash()


def test_command_spec_is_utf8_and_keeps_argv_order() -> None:
    spec = JobSpec.model_validate(
        {
            "workload": {
                "kind": "command",
                "argv": ["python", "train.py", "--name=café"],
                "outputs": ["out/model.pt"],
            }
        }
    )
    assert (
        spec.canonical_json()
        == (
            '{"workload":{"argv":["python","train.py","--name=café"],"kind":"command","outputs":["out/model.pt"]}}'
        ).encode()
    )
    swapped = JobSpec.model_validate(
        {
            "workload": {
                "kind": "command",
                "argv": ["train.py", "python", "--name=café"],
                "outputs": ["out/model.pt"],
            }
        }
    )
    assert swapped.spec_hash() != spec.spec_hash()


@pytest.mark.parametrize(
    "workload",
    [
        {"kind": "matmul", "seed": 1, "n": 0, "repetitions": 1},
        {"kind": "matmul", "seed": 1, "n": 8, "repetitions": 1, "dtype": "int4"},
        {"kind": "matmul", "seed": 1, "n": 8, "repetitions": 1, "argv": ["x"]},
        {"kind": "command", "argv": []},
        {"kind": "command", "argv": ["x"], "outputs": ["/etc/passwd"]},
        {"kind": "command", "argv": ["x"], "outputs": ["a/../../b"]},
        {"kind": "shell", "argv": ["x"]},
    ],
)
def test_bad_specs_rejected(workload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"workload": workload})


def test_offer_limits() -> None:
    offer = Offer(gpu_model="NVIDIA RTX 4090", gpu_count=1, vram_gb=24, price_per_gpu_second=10**12)
    assert offer.metadata_uri == ""
    for bad in ({"gpu_count": 0}, {"gpu_count": 256}, {"price_per_gpu_second": 0}, {"gpu_model": ""}):
        with pytest.raises(ValidationError):
            Offer(**{**offer.model_dump(), **bad})


def test_network_settings_rpc_url() -> None:
    net = NetworkSettings(name="sepolia", rpc_env="SEPOLIA_RPC_URL", chain_id=11155111)
    assert net.rpc_url({"SEPOLIA_RPC_URL": "https://node.example"}) == "https://node.example"
    with pytest.raises(ConfigError, match="export SEPOLIA_RPC_URL="):
        net.rpc_url({})
    with pytest.raises(ValidationError, match="environment variable name"):
        NetworkSettings(name="x", rpc_env="https://node.example", chain_id=1)


def deployment() -> DeploymentRecord:
    return DeploymentRecord(
        chain_id=31337,
        network="development",
        addresses={"JobEscrow": PROVIDER.lower()},
        deploy_block=12,
        tx_hashes={"JobEscrow": "0x" + "cd" * 32},
        code_hashes={"JobEscrow": "0x" + "ef" * 32},
        parameters={"feeBps": 250, "treasury": PROVIDER},
        compiler_version="0.8.28",
    )


def test_deployment_record_save_load(tmp_path: Path) -> None:
    record = deployment()
    path = tmp_path / "deployments" / "31337.json"
    record.save(path)
    loaded = DeploymentRecord.load(path)
    assert loaded == record
    assert loaded.addresses["JobEscrow"] == PROVIDER
    assert loaded.complete is False
    assert json.loads(path.read_text())["parameters"] == {"feeBps": 250, "treasury": PROVIDER}
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["31337.json"]  # no temp file left behind


def test_deployment_record_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no deployment record"):
        DeploymentRecord.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**deployment().model_dump(), "surprise": 1}))
    with pytest.raises(ConfigError, match="malformed"):
        DeploymentRecord.load(bad)
