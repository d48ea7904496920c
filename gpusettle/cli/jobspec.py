"""The client's side of sandboxed jobs: the readable YAML spec (`job spec init`, `job create --spec`),
the account's encryption key (`wallet encryption-key`) and the sealed results (`job results`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx
import yaml
from pydantic import ValidationError

from ..eip712 import Domain
from ..errors import ConfigError, GpusettleError
from ..models import CommandWorkload, ContainerWorkload, InputFile, JobSpec, WorkloadLimits
from ..signed_requests import input_upload_headers
from ..workloads.io import SEALED_MAGIC, SealError, open_sealed, unpack
from .context import Ctx, get_ctx, shared_options

__all__ = [
    "InputSigner",
    "encryption_key",
    "is_sealed",
    "open_results",
    "parse_spec_text",
    "spec",
    "upload_input",
]

TEMPLATE = """\
# gpusettle job spec: what a provider's worker runs for you, inside its sandbox.
#   gpusettle job create --offer N --gpu-seconds S --spec job.yaml
# hashes this spec, uploads the local inputs to the oracle (signed with your account's key, kept
# there for a few days), publishes the spec and opens the job; `gpusettle job results JOB_ID` fetches and decrypts what it wrote.

# The program and its arguments (no shell). It runs in /job (writable, private to the job), reads its
# inputs from /job/in (read-only) and writes its results to /job/out. Its stdout and stderr come back too.
command: [python3, /job/in/train.py]
# Or a container image pinned by digest (when the provider runs Docker or Podman):
# image: ghcr.io/you/trainer@sha256:<64 hex digits>

# Files the program needs. A local file (relative to this spec) is uploaded when the job is created;
# a URL needs the file's sha256 and size, and the provider must allow that source.
inputs:
  - file: train.py
    path: train.py
#  - url: https://example.org/data.npz
#    sha256: <64 hex digits>
#    size: 123456
#    path: data.npz

# Resources, within the provider's bounds (omit one to get the provider's default).
limits:
  cpus: 1
  memory_mb: 1024
  disk_mb: 512
  wall_seconds: 600
  processes: 64

# Network access for the program: granted only when the provider allows it.
network: false

# Who can read the results: "wallet" seals them to your account's encryption key (make one with
# `gpusettle wallet encryption-key ALIAS --new`), or give an X25519 public key as 0x + 64 hex digits.
encrypt_to: wallet
"""

_KEYS = {"command", "image", "inputs", "limits", "network", "encrypt_to"}


_UPLOAD_VALIDITY = 600
"""Seconds an input upload's signature stays good (the oracle accepts at most an hour)."""
_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputSigner:
    """The client's account key and the escrow's EIP-712 domain: what signs an input upload."""

    domain: Domain
    """The escrow's domain (chain id and address): the oracle refuses a signature for another."""
    key: bytes = field(repr=False)
    """The account's private key (unlocked for this command only)."""


def _file_digest(source: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with source.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _chunks(source: Path) -> Iterator[bytes]:
    with source.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _refusal_hint(status: int) -> str:
    if status == 429:
        return "your key's upload quota on this oracle is spent: wait, or serve the file from your own URL"
    if status == 413:
        return "the file is over the oracle's limit: serve it from your own URL (url + sha256 + size)"
    if status == 401:
        return "check the oracle belongs to this network (chain id and escrow) and your clock"
    return "check the file and the oracle URL"


def upload_input(source: Path, blob_store: str, signer: InputSigner) -> InputFile:
    """Upload a local file to the oracle's PUT /v1/inputs/<sha256>, signed with the client's account
    key; the InputFile the worker fetches it by."""
    try:
        sha256, size = _file_digest(source)
    except OSError as exc:
        raise ConfigError(
            f"cannot read input {source}: {exc.strerror}", "check the path in the spec"
        ) from None
    url = f"{blob_store.rstrip('/')}/v1/inputs/{sha256}"
    headers = input_upload_headers(
        signer.domain, signer.key, sha256, size, int(time.time()) + _UPLOAD_VALIDITY
    )
    headers["content-length"] = str(size)
    try:
        response = httpx.put(url, content=_chunks(source), headers=headers, timeout=120)
    except (httpx.HTTPError, OSError) as exc:
        raise ConfigError(f"cannot upload {source} to {blob_store}: {exc}", "check the oracle URL") from None
    if response.status_code not in (200, 201):
        try:
            reason = str(response.json().get("reason") or response.text[:300])
        except ValueError:
            reason = response.text[:300]
        raise ConfigError(
            f"the oracle refused input {source}: HTTP {response.status_code}: {reason}",
            _refusal_hint(response.status_code),
        )
    return InputFile(url=url, sha256=sha256, path=source.name, size=size)


def _local_input(
    entry: dict[str, Any],
    base: Path,
    blob_store: str | None,
    input_signer: Callable[[], InputSigner] | None,
) -> InputFile:
    source = (base / str(entry["file"])).expanduser()
    if not source.is_file():
        raise ConfigError(f"cannot read input {source}: no such file", "check the path in the spec")
    if blob_store is None or not blob_store.startswith(("http://", "https://")):
        raise ConfigError(
            f"input {source} is a local file, which must be uploaded to the oracle's blob store",
            "pass --publish ORACLE_URL (the oracle's http URL), or give the input as url + sha256 + size",
        )
    if input_signer is None:
        raise ConfigError(
            f"input {source} is a local file, and uploading it needs your account's key",
            "pass --account ALIAS, or give the input as url + sha256 + size",
        )
    item = upload_input(source, blob_store, input_signer())
    return item.model_copy(update={"path": str(entry.get("path") or source.name)})


def readable_spec(
    data: Any,
    base: Path,
    *,
    blob_store: str | None,
    wallet_key: Any,
    input_signer: Callable[[], InputSigner] | None = None,
) -> JobSpec:
    """The JobSpec a readable YAML spec describes (local inputs uploaded on the way to `blob_store`,
    signed by `input_signer()`, asked for only when there is a local input)."""
    if not isinstance(data, dict):
        raise ConfigError(
            "the spec must be a mapping of keys to values", "start from `gpusettle job spec init`"
        )
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(
            f"unknown keys in the spec: {', '.join(sorted(unknown))}", f"use only {', '.join(sorted(_KEYS))}"
        )
    if ("command" in data) == ("image" in data):
        raise ConfigError("the spec needs exactly one of `command` and `image`", "say what to run")
    inputs = []
    for entry in data.get("inputs") or []:
        if not isinstance(entry, dict):
            raise ConfigError(
                f"input {entry!r} is not a mapping", "give file + path, or url + sha256 + size + path"
            )
        if "file" in entry:
            inputs.append(_local_input(entry, base, blob_store, input_signer))
        else:
            inputs.append(InputFile.model_validate(entry))
    key = data.get("encrypt_to", "wallet")
    if key == "wallet":
        key = wallet_key()
    common: dict[str, Any] = {
        "inputs": inputs or None,
        "limits": WorkloadLimits.model_validate(data["limits"]) if data.get("limits") else None,
        "network": bool(data["network"]) if "network" in data else None,
        "encrypt_to": key,
    }
    if "command" in data:
        argv = data["command"]
        if isinstance(argv, str):
            argv = argv.split()
        return JobSpec(workload=CommandWorkload(kind="command", argv=argv, **common))
    return JobSpec(workload=ContainerWorkload(kind="container", image=data["image"], **common))


def parse_spec_text(text: str, path: Path, *, base_dir: Path, blob_store: str | None) -> JobSpec:
    """The JobSpec in `text` (read from `path`): JobSpec JSON, or the readable YAML spec whose local
    inputs (relative to `base_dir`) are uploaded to `blob_store`."""
    try:
        if text.lstrip().startswith("{"):
            return JobSpec.model_validate_json(text)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"the job spec {path} is not valid YAML: {exc}", "fix the spec file") from None

        def wallet_key() -> str:
            c = get_ctx()
            return c.keystore.encryption_public_key(c.account_alias())

        signer: list[InputSigner] = []

        def input_signer() -> InputSigner:
            if not signer:
                c = get_ctx()
                account = c.local_signer("uploading a local input")
                client = c.client()
                domain = Domain(client.chain.chain_id, str(client.escrow.address))
                signer.append(InputSigner(domain, bytes(account.key)))
            return signer[0]

        return readable_spec(
            data, base_dir, blob_store=blob_store, wallet_key=wallet_key, input_signer=input_signer
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"the job spec {path} is not valid: {where}: {first['msg']}", "fix the spec file"
        ) from None


@click.group("spec")
def spec() -> None:
    """Job specs: what a provider runs for you."""


@spec.command("init")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=Path("job.yaml"))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def spec_init(path: Path, force: bool) -> None:
    """Write a commented example spec to PATH (default job.yaml)."""
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    path.write_text(TEMPLATE, encoding="utf-8")
    click.echo(f"wrote {path}: edit it, then `gpusettle job create --spec {path} ...`")


def is_sealed(payload: bytes) -> bool:
    """Whether a result payload is sealed to a client's key (a sandboxed command's outputs)."""
    return payload.startswith(SEALED_MAGIC)


def open_results(c: Ctx, job_id: int, result_hash: str, ciphertext: bytes, target: Path) -> None:
    """Decrypt a sealed result with --account's encryption key and unpack it into `target`."""
    alias = c.account_alias()
    secret = c.keystore.unlock_encryption_key(alias, c.password(f"Password for {alias}'s encryption key"))
    try:
        archive = open_sealed(ciphertext, secret)
    except SealError as exc:
        raise GpusettleError(exc.message, exc.hint) from None
    names = unpack(archive, target)
    summary = json.loads((target / "result.json").read_text()) if (target / "result.json").exists() else {}
    c.emit(
        {
            "job_id": job_id,
            "result_hash": result_hash,
            "directory": str(target),
            "files": names,
            "result": summary,
        },
        f"job {job_id}: {len(names)} file(s) in {target} ({summary.get('outcome', '?')}"
        + (f": {summary['reason']}" if summary.get("reason") else "")
        + ")",
    )


@click.command("encryption-key")
@click.argument("alias")
@click.option("--new", "make", is_flag=True, help="Make the key pair (once per account).")
@shared_options
def encryption_key(alias: str, make: bool) -> None:
    """Show ALIAS's X25519 public key (results are sealed to it), or make it with --new."""
    c = get_ctx()
    if make:
        # Encrypted with the account's own password, as its account key is.
        public = c.keystore.new_encryption_key(alias, c.password(f"Password for {alias}"))
    else:
        public = c.keystore.encryption_public_key(alias)
    c.emit(
        {"alias": alias, "public_key": public, "keyfile": str(c.keystore.encryption_key_path(alias))},
        f"{alias}'s encryption key: {public}",
    )
