"""The data gpusettle signs, sends and stores, validated at the edges.

On-chain structures (`JobReceipt`) keep the Solidity field names so that a receipt's JSON reads the
same as the contract's ABI; off-chain structures use Python names. Every model forbids unknown
fields: a typo in a spec or a receipt must fail loudly rather than be silently dropped and signed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from enum import IntEnum, StrEnum
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from .atomicfile import write_atomic
from .errors import ConfigError
from .hashing import checksum_address, keccak256

__all__ = [
    "Address",
    "Bytes32Hex",
    "CommandWorkload",
    "ContainerWorkload",
    "DeploymentRecord",
    "InputFile",
    "JobReceipt",
    "JobSpec",
    "JobStatus",
    "MatmulWorkload",
    "NetworkSettings",
    "Offer",
    "Outcome",
    "ReceiptEvidence",
    "ReceiptStatus",
    "ReceiptSubmission",
    "ResultPayloadRef",
    "SignedReceipt",
    "Uint8",
    "Uint32",
    "Uint64",
    "Uint256",
    "WorkloadLimits",
]

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX_32 = re.compile(r"0x[0-9a-fA-F]{64}")


# Cached: the oracle's intake sees the same few providers and the one escrow address in every submission.
# Only well-formed results are cached (a ValueError is not), and the function is pure.
@lru_cache(maxsize=4096)
def _checksum_address(value: str) -> str:
    if not _HEX_ADDRESS.fullmatch(value):
        digits = len(value) - 2 if value.startswith("0x") else len(value)
        raise ValueError(
            f"{value!r} is not an address: expected 0x followed by 40 hex digits, got {digits} characters"
        )
    checksummed = checksum_address(bytes.fromhex(value[2:]))
    # All-lowercase carries no checksum (EIP-55) and is accepted; mixed case must be the right checksum,
    # because a wrong one means a typo somewhere in the 40 digits.
    if value != checksummed and value[2:] != value[2:].lower():
        raise ValueError(f"{value!r} has a wrong EIP-55 checksum (expected {checksummed}); check for a typo")
    return checksummed


def _bytes32_hex(value: str) -> str:
    if not _HEX_32.fullmatch(value):
        if not value.startswith("0x"):
            raise ValueError(f"{value!r} must start with 0x and hold 32 bytes (64 hex digits)")
        body = value[2:]
        if not re.fullmatch(r"[0-9a-fA-F]*", body):
            raise ValueError(f"{value!r} holds characters that are not hex digits")
        raise ValueError(f"expected 32 bytes (64 hex digits after 0x), got {len(body)} hex digits")
    return value.lower()


def _exact_int(value: Any) -> Any:
    # Lax pydantic turns True, 1.0 and "1" into 1; in signed data that hides a caller's bug.
    # ValueError, not TypeError: pydantic only turns ValueError into a ValidationError.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {type(value).__name__} {value!r}")  # noqa: TRY004
    return value


Address = Annotated[str, AfterValidator(_checksum_address)]
"""An EIP-55 checksummed address."""
Bytes32Hex = Annotated[str, AfterValidator(_bytes32_hex)]
"""32 bytes as 0x + 64 lowercase hex digits."""
Uint8 = Annotated[int, Field(strict=True, ge=0, le=2**8 - 1)]
Uint32 = Annotated[int, Field(strict=True, ge=0, le=2**32 - 1)]
Uint64 = Annotated[int, Field(strict=True, ge=0, le=2**64 - 1)]
Uint256 = Annotated[int, Field(strict=True, ge=0, le=2**256 - 1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Outcome(IntEnum):
    """What a receipt says happened; the values are IJobEscrow.Outcome's."""

    COMPLETED = 0
    """The job ran to the end; metered GPU-seconds are paid."""
    FAILED_CLIENT = 1
    """The job's own code or spec failed; metered GPU-seconds are paid."""
    FAILED_PROVIDER = 2
    """The provider's hardware or worker failed; nothing is paid."""


class JobStatus(StrEnum):
    """IJobEscrow.Status by name, as `JobInfo.status` reports it."""

    NONE = "None"
    OPEN = "Open"
    RUNNING = "Running"
    SETTLED = "Settled"
    CANCELLED = "Cancelled"
    TIMED_OUT = "TimedOut"
    DISPUTED = "Disputed"
    DISPUTE_UPHELD = "DisputeUpheld"
    DISPUTE_REJECTED = "DisputeRejected"
    FRAUD = "Fraud"
    DISPUTE_LAPSED = "DisputeLapsed"


SETTLED_JOB_STATUSES = frozenset(
    {
        JobStatus.SETTLED,
        JobStatus.DISPUTED,
        JobStatus.DISPUTE_UPHELD,
        JobStatus.DISPUTE_REJECTED,
        JobStatus.DISPUTE_LAPSED,
    }
)
"""Job statuses a settlement leads to (a dispute starts from a settled job)."""


class SkipReason(IntEnum):
    """Why settleBatch skipped a receipt (SettlementSkipped's `reason`); the values are IJobEscrow.SkipReason's.
    A single `settle` reverts with the matching JobEscrow error instead."""

    NOT_RUNNING = 0
    """The job was not running: already settled, cancelled, timed out, or unknown (the event's status says which)."""
    TOO_LATE = 1
    """Deadline plus grace had passed: the job belongs to the timeout path (JobEscrowSettlementTooLate)."""
    WRONG_PROVIDER = 2
    """The receipt names another provider than the job's (JobEscrowWrongProvider)."""
    WRONG_WORKER = 3
    """Not signed by the provider's current worker key, e.g. rotated meanwhile (JobEscrowInvalidWorkerSignature)."""
    IMPOSSIBLE_TIMES = 4
    """Start before acceptance, end before start, or end in the future (JobEscrowImpossibleTimes)."""
    END_AFTER_DEADLINE = 5
    """The receipt ends after the job's deadline (JobEscrowEndAfterDeadline)."""
    IMPOSSIBLE_GPU_SECONDS = 6
    """More GPU-seconds than the wall time allows (JobEscrowImpossibleGpuSeconds)."""
    INVALID_OUTCOME = 7
    """An outcome the escrow does not know (JobEscrowInvalidOutcome)."""


class ReceiptStatus(StrEnum):
    """Where a receipt is on its way to the chain, as the oracle stores and reports it."""

    RECEIVED = "received"
    """Stored and acknowledged; not yet checked against the chain."""
    VERIFIED = "verified"
    """Checked against fresh chain state; waiting for a batch."""
    REJECTED = "rejected"
    """Refused, with a reason; never posted."""
    POSTED = "posted"
    """In a batch transaction that is not final yet."""
    SETTLED = "settled"
    """Its batch is final on-chain."""


class JobReceipt(_Model):
    """A job receipt exactly as IJobEscrow.Receipt: what the worker key signs under EIP-712."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    jobId: Uint256 = Field(description="Escrow job id (ids start at 1).")
    """Escrow job id, as returned by createJob (ids start at 1)."""
    provider: Address = Field(description="The provider's staking wallet that owns the job.")
    """The provider's staking wallet (not the worker key): the escrow checks it against the job."""
    gpuSeconds: Uint64 = Field(description="Metered GPU-seconds: wall time x GPUs.")
    """Metered GPU-seconds: wall time x GPUs; the client pays min(gpuSeconds, max) x price."""
    startTime: Uint64 = Field(description="Unix seconds when the job started.")
    """Unix seconds when the job started; must not be before the job was accepted."""
    endTime: Uint64 = Field(description="Unix seconds when the job ended.")
    """Unix seconds when the job ended; must not be before startTime nor in the future."""
    resultHash: Bytes32Hex = Field(description="Hash of the result, or of the failure reason.")
    """keccak256 of the result (or of the failure reason), 0x + 64 hex digits."""
    outcome: Annotated[Outcome, BeforeValidator(_exact_int)] = Field(
        description="0 completed, 1 failed by the client's job, 2 failed by the provider."
    )
    """0 completed, 1 failed by the client's job, 2 failed by the provider."""

    @model_validator(mode="after")
    def _times_in_order(self) -> Self:
        if self.endTime < self.startTime:
            raise ValueError(f"endTime {self.endTime} is before startTime {self.startTime}")
        return self

    def as_tuple(self) -> tuple[int, str, int, int, int, bytes, int]:
        """The receipt as the ABI tuple a contract call takes."""
        return (
            self.jobId,
            self.provider,
            self.gpuSeconds,
            self.startTime,
            self.endTime,
            bytes.fromhex(self.resultHash[2:]),
            int(self.outcome),
        )


class ReceiptEvidence(_Model):
    """Off-chain context a worker attaches to a receipt so the oracle and a human auditor can check it."""

    gpu_names: list[str] = Field(
        default_factory=list, description="GPU model names as the driver reports them."
    )
    """GPU model names as the driver reports them (e.g. "NVIDIA H100 80GB HBM3"), one per GPU."""
    gpu_uuids: list[str] = Field(default_factory=list, description="GPU UUIDs as the driver reports them.")
    """GPU UUIDs as the driver reports them, in the same order as gpu_names."""
    mean_utilisation: float | None = Field(
        default=None, ge=0.0, le=100.0, description="Mean GPU utilisation over the job, in percent."
    )
    """Mean GPU utilisation over the job, in percent (0 to 100), when the worker could sample it."""
    workload: str | None = Field(default=None, description="Which workload ran (e.g. matmul).")
    """Which workload ran (e.g. "matmul" or "command"), for humans reading the evidence."""
    failure_reason: str | None = Field(default=None, description="Why the job failed, if it did.")
    """Why the job failed, if it did; its keccak256 is the receipt's resultHash on failure."""

    @model_validator(mode="after")
    def _one_uuid_per_gpu(self) -> Self:
        if self.gpu_names and self.gpu_uuids and len(self.gpu_names) != len(self.gpu_uuids):
            raise ValueError(
                f"{len(self.gpu_names)} GPU names but {len(self.gpu_uuids)} GPU UUIDs; list one UUID per GPU"
            )
        return self


class ResultPayloadRef(_Model):
    """Where the oracle can fetch a job's result payload (e.g. a matmul product) to check it."""

    uri: str = Field(min_length=1, description="Where the payload can be fetched.")
    """Where the payload can be fetched (a file path, http(s) URL or content address)."""
    content_hash: Bytes32Hex = Field(description="keccak256 of the payload bytes.")
    """keccak256 of the payload bytes, so a fetched payload can be checked before it is trusted."""
    size_bytes: int = Field(strict=True, ge=0, description="Payload size in bytes.")
    """Payload size in bytes, so the oracle can refuse to download something absurd."""


class SignedReceipt(_Model):
    """A receipt with its worker signature (EIP-2098 compact) and optional off-chain evidence."""

    receipt: JobReceipt = Field(description="The signed receipt.")
    """The signed receipt."""
    r: Bytes32Hex = Field(description="Signature r, 0x + 64 hex digits.")
    """The signature's r, 0x + 64 hex digits."""
    vs: Bytes32Hex = Field(description="EIP-2098 vs: y-parity in the top bit, s below it.")
    """EIP-2098 vs: the y-parity in the top bit and the (low) s in the other 255 bits."""
    evidence: ReceiptEvidence | None = Field(default=None, description="Off-chain evidence about the run.")
    """Off-chain evidence about the run; not signed, so only ever advisory."""
    result: ResultPayloadRef | None = Field(default=None, description="Where to fetch the result payload.")
    """Where to fetch the result payload of a verifiable workload (a matmul product)."""


class ReceiptSubmission(_Model):
    """The wire format of POST /v1/receipts: a SignedReceipt, optionally naming the chain and escrow it was
    signed for (then a mismatch is reported as such rather than as a bad signature). The worker builds
    it, the oracle parses it: one model for both ends."""

    receipt: JobReceipt = Field(description="The signed receipt.")
    """The signed receipt."""
    r: Bytes32Hex = Field(description="Signature r, 0x + 64 hex digits.")
    """The signature's r, 0x + 64 hex digits."""
    vs: Bytes32Hex = Field(description="EIP-2098 vs: y-parity in the top bit, s below it.")
    """EIP-2098 vs: the y-parity in the top bit and the (low) s in the other 255 bits."""
    evidence: ReceiptEvidence | None = Field(default=None, description="Off-chain evidence about the run.")
    """Off-chain evidence about the run; not signed, so only ever advisory."""
    result: ResultPayloadRef | None = Field(default=None, description="Where to fetch the result payload.")
    """Where to fetch the result payload of a verifiable workload (a matmul product)."""
    chainId: int | None = Field(default=None, description="Chain id the worker signed for.")
    """Chain id the worker signed for; must be the oracle's."""
    escrow: Address | None = Field(default=None, description="JobEscrow address the worker signed for.")
    """JobEscrow address (the EIP-712 verifying contract) the worker signed for; must be the oracle's."""

    def signed(self) -> SignedReceipt:
        """The receipt as a SignedReceipt, without the routing fields."""
        return SignedReceipt.model_construct(
            receipt=self.receipt, r=self.r, vs=self.vs, evidence=self.evidence, result=self.result
        )

    def to_json(self) -> str:
        """Compact JSON, unset optional fields left out: what the worker sends."""
        return self.model_dump_json(exclude_none=True)


def _relative_output_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"output path {value!r} must be relative to the job directory and must not use '..'")
    return value


class MatmulWorkload(_Model):
    """The built-in verifiable benchmark: repeated products of seeded random n x n matrices."""

    kind: Literal["matmul"] = Field(description='Always "matmul".')
    """Always "matmul"; selects this workload."""
    seed: Uint64 = Field(description="Seed that generates the input matrices.")
    """Seed that generates the input matrices, so the oracle can regenerate them."""
    n: int = Field(strict=True, ge=1, le=65536, description="Matrix size: the matrices are n x n.")
    """Matrix size: the matrices are n x n."""
    repetitions: int = Field(strict=True, ge=1, le=1_000_000, description="How many products to compute.")
    """How many products to compute; more repetitions make a longer job."""
    dtype: Literal["float16", "bfloat16", "float32", "float64"] = Field(
        default="float32", description="Element type of the matrices."
    )
    """Element type of the matrices."""


def _x25519_public_key(value: str) -> str:
    raw = value.removeprefix("0x")
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError(
            "encrypt_to must be an X25519 public key: 0x + 64 hex digits (`gpusettle wallet encryption-key`)"
        )
    return "0x" + key.hex()


def _sha256_hex(value: str) -> str:
    raw = value.lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", raw):
        raise ValueError(f"sha256 {value!r} must be 64 hex digits")
    return raw


class InputFile(_Model):
    """A file the job needs, fetched by the worker and checked against its content hash."""

    url: str = Field(pattern=r"^https?://", max_length=2048, description="Where to fetch it (http or https).")
    """Where to fetch it: the oracle's blob store or another http(s) URL the provider allows."""
    sha256: Annotated[str, AfterValidator(_sha256_hex)] = Field(description="SHA-256 of the content.")
    """SHA-256 of the file's content, 64 hex digits; a file that does not hash to it fails the job."""
    path: Annotated[str, AfterValidator(_relative_output_path)] = Field(
        description="Where it appears, relative to the job's input directory."
    )
    """Where the file appears (read-only), relative to the job's input directory `/job/in`."""
    size: int = Field(strict=True, ge=0, le=2**40, description="Size in bytes.")
    """Its size in bytes: the worker refuses to download more than this."""


class WorkloadLimits(_Model):
    """Resources a client program may use; each must fit within the worker's bounds."""

    cpus: int | None = Field(default=None, strict=True, ge=1, le=1024, description="CPU cores.")
    """CPU cores the program may use."""
    memory_mb: int | None = Field(default=None, strict=True, ge=16, le=2**24, description="Memory in MiB.")
    """Resident memory in MiB; the program is stopped when it uses more."""
    disk_mb: int | None = Field(default=None, strict=True, ge=1, le=2**24, description="Disk in MiB.")
    """Space its work directory may fill, in MiB."""
    wall_seconds: int | None = Field(default=None, strict=True, ge=1, le=2**31, description="Wall time.")
    """Wall-clock seconds before it is stopped (also bounded by what the job pays for)."""
    processes: int | None = Field(default=None, strict=True, ge=1, le=65536, description="Processes.")
    """Processes and threads it may run at once."""


class CommandWorkload(_Model):
    """An arbitrary command run in the job directory; its outputs are hashed into the result.

    Optional fields (left out of the canonical JSON when unset, so older specs keep their hash): input
    files by hash, resource limits, network, and a client key to which the outputs are encrypted.
    """

    kind: Literal["command"] = Field(description='Always "command".')
    """Always "command"; selects this workload."""
    argv: list[str] = Field(min_length=1, description="Program and arguments, without a shell.")
    """Program and arguments, executed without a shell so nothing is interpolated."""
    outputs: list[Annotated[str, AfterValidator(_relative_output_path)]] = Field(
        default_factory=list, description="Output files, relative to the job directory."
    )
    """Output files, relative to the job directory, hashed in this order into the result hash."""
    inputs: list[InputFile] | None = Field(default=None, description="Input files by URL and sha256.")
    """Input files by URL and sha256, placed read-only under `/job/in` before the program starts."""
    limits: WorkloadLimits | None = Field(default=None, description="Resource limits.")
    """Resource limits (within the worker's bounds; the worker's defaults otherwise)."""
    network: bool | None = Field(default=None, description="Whether the program needs the network.")
    """Whether the program needs the network; granted only when the provider allows it."""
    encrypt_to: Annotated[str, AfterValidator(_x25519_public_key)] | None = Field(
        default=None, description="Client X25519 public key the outputs are sealed to."
    )
    """The client's X25519 public key (0x + 64 hex): everything the program writes to `/job/out`, and
    its logs, are packed and sealed to it, and the result hash commits to the ciphertext."""


class ContainerWorkload(_Model):
    """An OCI image run by Docker or Podman with the same limits, inputs and sealed outputs."""

    kind: Literal["container"] = Field(description='Always "container".')
    """Always "container"; selects this workload."""
    image: str = Field(
        pattern=r"^[A-Za-z0-9._/:-]+@sha256:[0-9a-f]{64}$", description="Image reference pinned by digest."
    )
    """Image reference pinned by digest (name@sha256:...), so the provider runs exactly that image."""
    argv: list[str] | None = Field(default=None, description="Command (the image's default when unset).")
    """Program and arguments; the image's entrypoint when unset."""
    inputs: list[InputFile] | None = Field(default=None, description="Input files by URL and sha256.")
    """Input files by URL and sha256, mounted read-only at `/job/in`."""
    limits: WorkloadLimits | None = Field(default=None, description="Resource limits.")
    """Resource limits (within the worker's bounds)."""
    network: bool | None = Field(default=None, description="Whether the program needs the network.")
    """Whether the program needs the network; granted only when the provider allows it."""
    encrypt_to: Annotated[str, AfterValidator(_x25519_public_key)] = Field(
        description="Client X25519 public key the outputs are sealed to."
    )
    """The client's X25519 public key: `/job/out` and the logs are sealed to it."""


class JobSpec(_Model):
    """What a client asks a provider to run; its hash is the job's on-chain specHash."""

    workload: Annotated[MatmulWorkload | CommandWorkload | ContainerWorkload, Field(discriminator="kind")] = (
        Field(description="The workload: a matmul benchmark, a command or a container.")
    )
    """The workload: a verifiable matmul benchmark or an arbitrary command."""

    @property
    def kind(self) -> Literal["matmul", "command", "container"]:
        """The workload kind."""
        return self.workload.kind

    def canonical_json(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces, UTF-8, unset optional fields left out."""
        data = self.model_dump(mode="json", exclude_none=True)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def spec_hash(self) -> str:
        """keccak256 of the canonical JSON, as 0x + 64 hex digits: the value of createJob's specHash."""
        return "0x" + keccak256(self.canonical_json()).hex()


class Offer(_Model):
    """A provider's offer of GPU time, as IProviderStaking.Offer's terms."""

    gpu_model: str = Field(min_length=1, max_length=256, description="GPU model name.")
    """GPU model name, e.g. "NVIDIA H100 80GB HBM3"."""
    gpu_count: int = Field(strict=True, ge=1, le=255, description="GPUs a job on this offer gets (1 to 255).")
    """GPUs a job on this offer gets, 1 to 255 (a uint8 on-chain)."""
    vram_gb: int = Field(strict=True, ge=1, le=2**32 - 1, description="Memory per GPU in GB.")
    """Memory per GPU in GB (a uint32 on-chain)."""
    price_per_gpu_second: int = Field(
        strict=True, ge=1, le=2**64 - 1, description="Price per GPU-second in the token's base units."
    )
    """Price per GPU-second in the token's base units (a uint64 on-chain)."""
    metadata_uri: str = Field(
        default="", max_length=2048, description="Where the provider describes the machine."
    )
    """Where the provider describes the machine (may be empty)."""


_ENV_VAR = re.compile(r"[A-Z_][A-Z0-9_]*")


def _env_var_name(value: str) -> str:
    if not _ENV_VAR.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name (use A-Z, 0-9 and _)")
    return value


ParameterValue = int | str


class NetworkSettings(_Model):
    """How gpusettle reaches and deploys to one network."""

    name: str = Field(min_length=1, description="Network name, e.g. sepolia.")
    """Network name, e.g. "sepolia"; also the deployment record's network."""
    rpc_env: Annotated[str, AfterValidator(_env_var_name)] = Field(
        description="Environment variable holding the RPC URL."
    )
    """Environment variable holding the RPC URL; URLs carry API keys, so they never live in a file."""
    chain_id: int = Field(strict=True, ge=1, description="Chain id the RPC endpoint must report.")
    """Chain id the RPC endpoint must report; a mismatch stops everything before signing."""
    confirmations: int = Field(
        default=1, strict=True, ge=0, description="Blocks to wait after a transaction."
    )
    """Blocks to wait after a transaction before trusting it (reorg safety)."""
    explorer_url: str | None = Field(default=None, description="Block explorer base URL.")
    """Block explorer base URL, for links in messages."""
    parameters: dict[str, ParameterValue] = Field(default_factory=dict, description="Deployment parameters.")
    """Deployment parameters (fees, windows, treasury) for this network."""

    def rpc_url(self, environ: Mapping[str, str] | None = None) -> str:
        """The RPC URL from the environment; ConfigError when it is not set."""
        env = os.environ if environ is None else environ
        url = env.get(self.rpc_env, "").strip()
        if not url:
            raise ConfigError(
                f"the RPC URL for network {self.name!r} is not set",
                f"export {self.rpc_env}=https://... (your node or provider's URL)",
            )
        return url


class DeploymentRecord(_Model):
    """What a deployment left on a chain, kept in deployments/<chain id>.json."""

    chain_id: int = Field(strict=True, ge=1, description="Chain id deployed to.")
    """Chain id deployed to."""
    network: str = Field(min_length=1, description="Network name deployed to.")
    """Network name deployed to."""
    addresses: dict[str, Address] = Field(default_factory=dict, description="Contract name to address.")
    """Contract name to deployed address."""
    deploy_block: int = Field(strict=True, ge=0, description="Block of the first deployment transaction.")
    """Block of the first deployment transaction; event scans start here."""
    tx_hashes: dict[str, Bytes32Hex] = Field(
        default_factory=dict, description="Step name to transaction hash."
    )
    """Step name (a deployment or a configuration call) to its transaction hash."""
    code_hashes: dict[str, Bytes32Hex] = Field(
        default_factory=dict, description="Contract name to code hash."
    )
    """Contract name to keccak256 of its runtime code, to detect a record that no longer matches the chain."""
    parameters: dict[str, ParameterValue] = Field(default_factory=dict, description="Parameters set.")
    """Parameters the deployment set."""
    compiler_version: str = Field(min_length=1, description="solc version used.")
    """solc version used."""
    complete: bool = Field(default=False, description="True once every step succeeded.")
    """True once every deployment and configuration step succeeded; a partial record can be resumed."""

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read and validate a record; ConfigError when it is missing or malformed."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"no deployment record at {file}", "deploy first, or pass the right network"
            ) from None
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise ConfigError(
                f"the deployment record {file} is malformed: {exc}",
                "fix it by hand or redeploy to write a fresh one",
            ) from exc

    def save(self, path: str | Path) -> None:
        """Write the record atomically (readable by all: it holds no secret)."""
        text = self.model_dump_json(indent=2) + "\n"
        write_atomic(path, text.encode("utf-8"), mode=0o644)
