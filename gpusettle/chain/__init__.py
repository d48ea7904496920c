"""web3.py access to a deployed gpusettle suite: artifacts, transactions, decoded reverts, a typed client."""

from .abi import CONTRACT_NAMES, Artifact, load_artifact, load_artifacts
from .client import (
    ESCROW_PARAMETERS,
    ROLE_IDS,
    STAKING_PARAMETERS,
    EscrowParameters,
    Gpusettle,
    JobCreatedEvent,
    JobInfo,
    OfferInfo,
    OracleSet,
    ProviderRecord,
    Roles,
    StakeInfo,
    contract_key,
    decode_job,
)
from .revert import JOB_STATUS_NAMES, DecodedContractError, ErrorDecoder, extract_revert_data
from .tx import Chain, DecodedEvent, Signer, TransactionTimeoutError, TxOutcome, TxPlan, sender_address

__all__ = [
    "CONTRACT_NAMES",
    "ESCROW_PARAMETERS",
    "JOB_STATUS_NAMES",
    "ROLE_IDS",
    "STAKING_PARAMETERS",
    "Artifact",
    "Chain",
    "DecodedContractError",
    "DecodedEvent",
    "ErrorDecoder",
    "EscrowParameters",
    "Gpusettle",
    "JobCreatedEvent",
    "JobInfo",
    "OfferInfo",
    "OracleSet",
    "ProviderRecord",
    "Roles",
    "Signer",
    "StakeInfo",
    "TransactionTimeoutError",
    "TxOutcome",
    "TxPlan",
    "contract_key",
    "decode_job",
    "extract_revert_data",
    "load_artifact",
    "load_artifacts",
    "sender_address",
]
