"""Every error gpusettle raises on purpose.

Callers (the CLI, the worker, the oracle) catch `GpusettleError` once and print its message, so each
message says both what went wrong and what the user can do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AccountExistsError",
    "ConfigError",
    "ContractError",
    "GpusettleError",
    "InsufficientAllowanceError",
    "InsufficientFundsError",
    "InvalidAmountError",
    "InvalidPriceError",
    "InvalidSignatureError",
    "KeystoreError",
    "MalleableSignatureError",
    "NotJsonRpcError",
    "RpcUnavailableError",
    "UnknownAccountError",
    "WrongChainError",
    "WrongPasswordError",
]


class GpusettleError(Exception):
    """Root of every gpusettle error: `message` says what was wrong, `hint` what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}. {hint}" if hint else message)


class InvalidSignatureError(GpusettleError):
    """A signature is malformed or does not come from the expected key."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(
            f"invalid signature: {reason}",
            hint or "re-sign the data with the right key for this chain and contract",
        )


class MalleableSignatureError(InvalidSignatureError):
    """A signature's s is in the upper half of the curve order (EIP-2), which the contracts reject."""

    def __init__(self, s: int) -> None:
        super().__init__(
            f"s = {s:#x} is above secp256k1n/2, so the signature is malleable",
            "sign again with a library that normalises s to the lower half (every EIP-2 signer does)",
        )
        self.s = s


class InvalidAmountError(GpusettleError, ValueError):
    """An amount typed by a user or read from a file is not a valid token amount."""

    def __init__(self, value: object, reason: str, hint: str | None = None) -> None:
        super().__init__(
            f"invalid amount {value!r}: {reason}",
            hint or "write a non-negative decimal number such as 12 or 0.5",
        )
        self.value = value


class InvalidPriceError(InvalidAmountError):
    """A price typed by a user lacks its unit or is not a valid amount of tokens per GPU-second or -hour."""

    def __init__(self, value: object, reason: str, hint: str | None = None) -> None:
        GpusettleError.__init__(
            self,
            f"invalid price {value!r}: {reason}",
            hint or "write tokens per GPU-second as 0.001/s or tokens per GPU-hour as 3.6/h",
        )
        self.value = value


class KeystoreError(GpusettleError):
    """The account store could not do what was asked."""


class WrongPasswordError(KeystoreError):
    """The password does not decrypt the keyfile."""

    def __init__(self, alias: str, hint: str | None = None) -> None:
        super().__init__(
            f"wrong password for account {alias!r}",
            hint or "type it again, or check the file given with --password-file or GPUSETTLE_PASSWORD",
        )
        self.alias = alias


class UnknownAccountError(KeystoreError):
    """No keyfile has this alias."""

    def __init__(self, alias: str, known: Sequence[str] = ()) -> None:
        have = ", ".join(sorted(known)) if known else "none"
        super().__init__(
            f"no account named {alias!r} (accounts: {have})",
            "create it with `gpusettle wallet new` or import it with `gpusettle wallet import`",
        )
        self.alias = alias


class AccountExistsError(KeystoreError):
    """An account with this alias already exists; gpusettle never overwrites a key."""

    def __init__(self, alias: str) -> None:
        super().__init__(
            f"an account named {alias!r} already exists",
            "choose another alias, or delete the old account first if you really mean to replace it",
        )
        self.alias = alias


class ConfigError(GpusettleError):
    """A configuration file, deployment record or environment variable is missing or wrong."""


class WrongChainError(GpusettleError):
    """The RPC endpoint serves another chain than the configuration or signature expects."""

    def __init__(self, expected: int, actual: int, network: str | None = None) -> None:
        where = f" for network {network!r}" if network else ""
        super().__init__(
            f"connected to chain id {actual} but expected chain id {expected}{where}",
            "point the RPC URL at the right chain, or pick the network that matches it",
        )
        self.expected = expected
        self.actual = actual


# Why each revert happens from the caller's side, keyed by the custom error's name; unknown errors
# still get a generic hint.
_CONTRACT_HINTS: dict[str, str] = {
    "JobEscrowUnknownJob": "check the job id; ids start at 1 and run up to jobCount()",
    "JobEscrowWrongStatus": "see the job's status (`gpusettle job status JOB_ID`) and only do what it allows",
    "JobEscrowOfferNoLongerFits": "the offer's price or GPU count changed since you read it: read it again "
    "(`gpusettle offer list`) and open the job with the new terms if they suit you; nothing was taken",
    "JobEscrowRunTimeTooShort": "give the job a later deadline: at least the minimum run time after the latest "
    "acceptance (`gpusettle admin params show`, min_run_time)",
    "JobEscrowSelfDealing": "a provider cannot open work on its own offers, from its staking wallet or its worker key",
    "JobEscrowSettlementTooLate": "the job is past its deadline and grace: it can only time out now",
    "JobEscrowEndAfterDeadline": "a receipt cannot end after the job's deadline; meter only what ran before it",
    "JobEscrowSettlementPaused": "the guardian paused settlement; receipts settle again when the pause ends",
    "JobEscrowSettlementPauseCoolingDown": "a settlement pause cannot follow the last one at once: wait for the "
    "cooldown shown to end",
    "JobEscrowDisputesOpen": "the held slash is released when the provider's open disputes are ruled or lapse, "
    "or at the latest at the hold's deadline; claim it then",
    "JobEscrowHoldNotReleased": "the held slash waits for the provider's dispute windows to close; claim it after the "
    "date shown",
    "JobEscrowBelowMinimumStake": "the provider's stake is below the minimum: pick another offer, or the provider "
    "must stake more",
    "JobEscrowInvalidMaxGpuSeconds": "ask for between 1 and 2^32 - 1 GPU-seconds",
    "JobEscrowInvalidDeadline": "choose a deadline in the future and within the longest job duration",
    "JobEscrowInsufficientFreeStake": "pick another offer, or the provider must stake more",
    "JobEscrowAcceptanceClosed": "the job can only be cancelled now; the client may open a new one",
    "JobEscrowNotProviderOrWorker": "send the transaction from the provider's staking wallet or worker key",
    "JobEscrowNotClient": "send the transaction from the wallet that created the job",
    "JobEscrowCancelNotAllowed": "wait until the acceptance deadline passes, or ask the client to cancel",
    "JobEscrowTimeoutNotReached": "wait until the deadline plus the grace period has passed",
    "JobEscrowDisputeWindowClosed": "disputes are only possible within the dispute window after settlement",
    "JobEscrowRulingDeadlineNotReached": "the arbiter may still rule; lapse the dispute after its ruling deadline",
    "JobEscrowRulingDeadlinePassed": "no ruling came in time; anyone may lapse it: `gpusettle job lapse-dispute JOB_ID`",
    "JobEscrowWrongProvider": "the receipt must name the provider the job was opened with",
    "JobEscrowInvalidWorkerSignature": "sign with the provider's current worker key for this chain and escrow",
    "JobEscrowImpossibleTimes": "the receipt's start must be after acceptance and its end not in the future",
    "JobEscrowImpossibleGpuSeconds": "meter no more than (end - start) x the offer's GPU count",
    "JobEscrowInvalidOutcome": "use outcome 0 (completed), 1 (failed by client) or 2 (failed by provider)",
    "JobEscrowMalformedSignature": "use an EIP-2098 compact signature with a low s",
    "JobEscrowOracleSignersNotSorted": "sort the attestation signatures by signer address, ascending",
    "JobEscrowNotOracle": "only keys of the current oracle set may attest; reload the oracle set",
    "JobEscrowAttestationBelowThreshold": "collect signatures from at least the threshold of oracles",
    "JobEscrowLengthMismatch": "pass exactly one worker signature per receipt",
    "JobEscrowEmptyBatch": "pass at least one receipt",
    "JobEscrowNothingToClaim": "nothing is owed to this account right now",
    "JobEscrowNoFraudDebt": "this provider owes no fraud debt: its fraud reports' slashes were paid in full, or the "
    "debts were collected (`gpusettle job status JOB_ID`)",
    "JobEscrowFraudDebtNotCollectable": "the provider has no stake a slash may take now: none at all, or all of it "
    "locked for its clients' work (open or running jobs, settled jobs within their windows, leases); collect again "
    "once that work ends or the provider stakes more (`gpusettle provider status PROVIDER`)",
    "LeaseEscrowUnknownLease": "check the lease id: `gpusettle lease list` (yours as client) or `gpusettle provider lease "
    "list` (yours as provider)",
    "LeaseEscrowWrongStatus": "see what the lease is doing now: `gpusettle lease status LEASE_ID`",
    "LeaseEscrowZeroAmount": "give an amount above zero",
    "LeaseEscrowInvalidEndTime": "give an end time later than now and within the longest lease, or none (open-ended)",
    "LeaseEscrowInvalidDeposit": "deposit at least one second of the lease's rate (--deposit or --for)",
    "LeaseEscrowAcceptanceClosed": "the acceptance deadline passed: the client can cancel the lease for a full refund",
    "LeaseEscrowProviderJailed": "this provider is jailed and takes no new work: pick another offer",
    "LeaseEscrowBelowMinimumStake": "the provider's stake fell below the minimum: it must stake more before accepting",
    "LeaseEscrowCancelNotAllowed": "before the acceptance deadline only the client may cancel (the provider may "
    "decline); anyone may cancel after it",
    "LeaseEscrowSelfDealing": "a provider cannot lease its own offers, from its staking wallet or its worker key",
    "LeaseEscrowExpiryNotReached": "the final checkpoint may still land: claim the expiry after the time given",
    "LeaseEscrowNoCheckpoint": "there is no checkpoint to dispute yet: wait for the first one",
    "LeaseEscrowDisputeWindowClosed": "the last checkpoint can no longer be disputed",
    "LeaseEscrowAlreadyDisputed": "that checkpoint is disputed already: wait for the ruling, or dispute a later one",
    "LeaseEscrowCollateralStillNeeded": "the collateral stays locked until the last checkpoint's dispute window "
    "closes: release it after the time given (`gpusettle provider lease release-collateral`)",
    "LeaseEscrowNothingToClaim": "nothing is owed to this account right now",
    "LeaseEscrowOpeningPaused": "new leases are paused by the guardian; running leases, closing and refunds go on: "
    "try again later",
    "LeaseEscrowSettlementPaused": "checkpoints are paused by the guardian for a bounded time; they resume by themselves",
    "LeaseEscrowInvalidMaxClass": "accept class 0 (dedicated only), 1 (up to reclaimable) or 2 (any)",
    "LeaseEscrowImpossibleCheckpoint": "the oracles attested an impossible period: report it to the oracle operators",
    "LeaseEscrowEmptyBatch": "pass at least one checkpoint",
    "LeaseEscrowMalformedSignature": "re-sign: signatures must be 65 bytes with a low s",
    "LeaseEscrowOracleSignersNotSorted": "order the oracle signatures by ascending signer address, each once",
    "LeaseEscrowNotOracle": "only members of the job escrow's current oracle set may attest checkpoints",
    "LeaseEscrowAttestationBelowThreshold": "collect signatures from at least the threshold of oracles",
    "LeaseEscrowRulingDeadlineNotReached": "the arbiter may still rule: lapse the dispute after the time given",
    "LeaseEscrowRulingDeadlinePassed": "the ruling deadline passed: the dispute can only lapse now",
    "LeaseEscrowSettlementPauseCoolingDown": "a new checkpoint pause waits out the cooldown: try again after the "
    "time given",
    "LeaseEscrowParameterOutOfRange": "choose a value inside the parameter's hard range",
    "JobEscrowParameterOutOfRange": "choose a value inside the parameter's hard range",
    "JobEscrowInvalidOracleSet": "use 1 <= threshold <= number of oracles <= the maximum",
    "JobEscrowInvalidOracle": "oracle addresses must be non-zero and distinct",
    "JobEscrowZeroAddress": "pass a non-zero address",
    "ProviderStakingZeroAmount": "pass an amount above zero",
    "ProviderStakingZeroAddress": "pass a non-zero address",
    "ProviderStakingInsufficientFreeStake": "unstake at most what no job or lease holds as collateral and no open "
    "dispute froze for its ruling (`gpusettle provider status`: the free stake, and with a dispute open what is "
    "'unstakeable now')",
    "ProviderStakingNothingToWithdraw": "request an unstake first, then withdraw after the unbonding period",
    "ProviderStakingStillUnbonding": "wait until the release time, then withdraw",
    "ProviderStakingOpenDisputes": "wait until the open disputes are resolved",
    "ProviderStakingDisputeFrozen": "keep free stake for what open disputes can slash: wait for their ruling or lapse, "
    "or stake more",
    "ProviderStakingNotEscrow": "only the job escrow may call this",
    "ProviderStakingEscrowAlreadySet": "the escrow can be named only once; deploy a new staking contract",
    "ProviderStakingUnknownOffer": "check the offer id",
    "ProviderStakingNotOfferOwner": "send the transaction from the staking wallet that published the offer",
    "ProviderStakingOfferInactive": "the offer was withdrawn; pick an active one",
    "ProviderStakingInvalidGpuCount": "offer between 1 and 255 GPUs",
    "ProviderStakingInvalidPrice": "set a price between 1 and the cap",
    "ProviderStakingJailed": "the provider is jailed; governance must release it first",
    "ProviderStakingNotJailed": "the provider is not jailed; nothing to release",
    "ProviderStakingBelowMinimum": "stake at least the minimum before taking new work",
    "ProviderStakingNoWorker": "name a worker key with setWorker first",
    "ProviderStakingParameterOutOfRange": "choose a value inside the parameter's hard range",
    "JobEscrowNothingToSweep": "the escrow holds no tokens beyond what it owes; only tokens sent to it directly are swept",
    "JobEscrowSupplyTooLarge": "deploy on a token whose total supply fits 96 bits (at most 2^96 - 1 base units)",
    "LeaseEscrowSupplyTooLarge": "deploy on a token whose total supply fits 96 bits (at most 2^96 - 1 base units)",
    "ProviderStakingSupplyTooLarge": "deploy on a token whose total supply fits 96 bits (at most 2^96 - 1 base units)",
}


class ContractError(GpusettleError):
    """A contract call reverted with a custom error; `name` and `error_args` are its decoded parts."""

    def __init__(self, name: str, error_args: Sequence[Any] = (), hint: str | None = None) -> None:
        rendered = ", ".join(_render_arg(a) for a in error_args)
        super().__init__(
            f"the contract reverted with {name}({rendered})",
            hint or _CONTRACT_HINTS.get(name, "read the contract's documentation of this error"),
        )
        self.name = name
        self.error_args: tuple[Any, ...] = tuple(error_args)


def _render_arg(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


class RpcUnavailableError(GpusettleError):
    """The JSON-RPC endpoint could not be reached or answered with garbage."""

    def __init__(self, endpoint: str, cause: str | None = None) -> None:
        why = f": {cause}" if cause else ""
        super().__init__(
            f"cannot reach the RPC endpoint {endpoint}{why}",
            "check the URL and your connection, or set the network's RPC environment variable",
        )
        self.endpoint = endpoint


class NotJsonRpcError(GpusettleError):
    """The RPC URL answers HTTP, but not as an Ethereum JSON-RPC node (e.g. the oracle's URL)."""

    def __init__(self, endpoint: str, cause: str) -> None:
        super().__init__(
            f"{endpoint} is not a JSON-RPC node ({cause})",
            "point --rpc-url (or $GPUSETTLE_RPC_URL) at an Ethereum node, e.g. http://127.0.0.1:8545 "
            "for `gpusettle dev up`'s anvil; the oracle and the explorer have other URLs",
        )
        self.endpoint = endpoint


class InsufficientFundsError(GpusettleError):
    """An account holds less than an operation needs."""

    def __init__(self, account: str, need: int | str, have: int | str, what: str = "tokens") -> None:
        super().__init__(
            f"{account} has {have} {what} but needs {need}",
            f"send more {what} to {account} and try again",
        )
        self.account = account


class InsufficientAllowanceError(GpusettleError):
    """A spender may take less of an account's tokens than an operation needs."""

    def __init__(
        self, account: str, spender: str, need: int | str, have: int | str, what: str = "tokens"
    ) -> None:
        super().__init__(
            f"{account} allows {spender} to take {have} {what} but the operation needs {need}",
            "approve at least that much first, or let gpusettle approve it (leave out --no-approve) or use --permit",
        )
        self.account = account
        self.spender = spender
