"""Hardware checks from the oracle's side: challenge a provider's worker, judge the answer, record it on-chain.

One check: read the offer (GPU model, count, VRAM), size the challenge from the claimed VRAM
(gpusettle.hardware.sizing), send the commit step and time it, then, with the root committed, pick rows and a
Freivalds vector at random and send the open step; check the opening (gpusettle.hardware.verify) and the time
band. The verdict (passed or failed, with the reason in the log) is signed as an EIP-712 HardwareCheck and sent to
the HardwareRegistry in a transaction from this oracle's account.

Where the oracle set's threshold is above 1 the record needs co-signatures: the oracle asks its peers, each of which
co-signs only after a challenge of its own agrees with the verdict (gpusettle.oracle.hardware_quorum). The
transaction goes out directly (gpusettle.chain.tx, waiting for one block), not through the poster's durable queue.

`gpusettle oracle check-hardware` runs one check; `gpusettle oracle run` runs them on a schedule
(gpusettle.oracle.hardware_schedule), recording from the poster's thread while no batch of its is in flight.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, ValidationError

from ..chain.client import Gpusettle
from ..eip712 import Domain
from ..errors import ConfigError
from ..hardware.attest import registry_domain, sign_check
from ..hardware.models import (
    MAX_CHALLENGE_N,
    MAX_SAMPLED_ROWS,
    CommitAnswer,
    CommitRequest,
    HardwareCheck,
    OpenAnswer,
    OpenRequest,
)
from ..hardware.sizing import ChallengeSettings, challenge_size, time_limit_s
from ..hardware.verify import check_opening
from ..hashing import keccak256
from ..outbound import OutboundError, outbound_client, post_json_bounded
from ..signed_requests import peer_request_headers
from .hardware_quorum import HardwareQuorum

__all__ = ["HARDWARE_PATH", "HardwareChecker", "Verdict", "record_check"]

MAX_ANSWER_BYTES = 2 * (MAX_SAMPLED_ROWS * (8 * MAX_CHALLENGE_N + 66 * 64) + 255 * 16 * MAX_CHALLENGE_N) + (
    1 << 16
)
"""The largest answer read from a worker: an opening of every row it may be asked for, with proofs, and a
product vector per GPU, base64 (4/3) in JSON, doubled for slack (what the models accept, not more)."""

log = logging.getLogger("gpusettle.oracle.hardware")

HARDWARE_PATH = "/v1/hardware"


@dataclass(frozen=True)
class Verdict:
    """One challenge's outcome: the record to sign, and why it failed (None when it passed)."""

    check: HardwareCheck
    problem: str | None
    n: int
    limit_s: float


@dataclass
class HardwareChecker:
    """Runs hardware challenges against workers and records them; one thread."""

    gs: Gpusettle
    account: LocalAccount = field(repr=False)
    settings: ChallengeSettings = field(default_factory=ChallengeSettings)
    clock: Callable[[], float] = time.time
    transport: httpx.BaseTransport | None = None

    def __post_init__(self) -> None:
        self.domain = Domain(self.gs.chain.chain_id, str(self.gs.escrow.address))
        self.http = outbound_client(self.settings.timeout_s, self.transport)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _post(self, url: str, request: BaseModel, deadline_s: float) -> object:
        body = request.model_dump_json().encode()
        headers = peer_request_headers(
            self.domain,
            bytes(self.account.key),
            self.account.address,
            "POST",
            HARDWARE_PATH,
            int(self.clock()),
            body,
        )
        try:
            answer: object = post_json_bounded(
                self.http,
                url.rstrip("/") + HARDWARE_PATH,
                content=body,
                headers=headers,
                max_bytes=MAX_ANSWER_BYTES,
                deadline_s=deadline_s,
            )
        except OutboundError as exc:
            raise _Refused(str(exc)) from None
        return answer

    def challenge(self, offer_id: int, url: str | None = None) -> Verdict:
        """Challenge the worker of `offer_id` (at `url`, else the settings' URL for its provider)."""
        offer = self.gs.offer(offer_id)
        url = url or self.settings.worker_urls.get(offer.provider)
        if url is None:
            raise ConfigError(
                f"no worker URL is known for provider {offer.provider} of offer {offer_id}",
                "name it in the oracle's settings (provider -> worker URL)",
            )
        n = challenge_size(offer.vram_gb, self.settings)
        limit = time_limit_s(n, offer.gpu_count, offer.gpu_model, self.settings)
        seed = secrets.randbits(64)
        challenge_id = "0x" + keccak256(secrets.token_bytes(32) + offer_id.to_bytes(32, "big")).hex()
        request = CommitRequest(
            offerId=offer_id, challengeId=challenge_id, seed=seed, n=n, gpus=offer.gpu_count
        )
        root = "0x" + "00" * 32
        elapsed_ms = 0
        problem: str | None = None
        try:
            started = time.monotonic()
            # The commit carries the products' work: the time limit, and a read's timeout to deliver it.
            commit = CommitAnswer.model_validate(self._post(url, request, limit + self.settings.timeout_s))
            elapsed = time.monotonic() - started
            elapsed_ms = min(int(elapsed * 1000), 2**32 - 1)
            root = commit.root
            total = n * offer.gpu_count
            rows = sorted({secrets.randbelow(total) for _ in range(self.settings.sampled_rows)})
            opening = OpenRequest(challengeId=challenge_id, rows=rows, vectorSeed=secrets.randbits(64))
            answer = OpenAnswer.model_validate(self._post(url, opening, self.settings.timeout_s))
            problem = check_opening(request, commit, opening, answer)
            if problem is None and elapsed > limit:
                problem = (
                    f"the products took {elapsed:.2f} s, more than the {limit:.2f} s a {offer.gpu_model} "
                    f"x{offer.gpu_count} may take for n={n}"
                )
        except _Refused as exc:
            problem = str(exc)
        except httpx.HTTPError as exc:
            problem = f"no answer from {url} ({type(exc).__name__})"
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            problem = f"the worker's answer does not match the schema: {first.get('loc')}: {first.get('msg')}"
        # The registry refuses a check dated after its block, and a node estimates gas at the head's time, which
        # trails the wall clock by up to a block interval.
        head = int(self.gs.chain.w3.eth.get_block("latest")["timestamp"])
        check = HardwareCheck(
            offerId=offer_id,
            challengeId=challenge_id,
            checkedAt=min(int(self.clock()), head),
            passed=problem is None,
            gpuCount=offer.gpu_count,
            vramGb=offer.vram_gb,
            elapsedMs=elapsed_ms,
            resultRoot=root,
        )
        if problem is None:
            log.info(
                "offer %d: hardware check passed (n=%d, %.2f s of %.2f s)",
                offer_id,
                n,
                elapsed_ms / 1000,
                limit,
            )
        else:
            log.warning("offer %d: hardware check FAILED: %s", offer_id, problem)
        return Verdict(check, problem, n, limit)

    def post(self, check: HardwareCheck, quorum: HardwareQuorum | None = None) -> str:
        """Sign `check` (with `quorum`'s peers where the threshold asks for more) and record it in the
        HardwareRegistry; returns the transaction hash."""
        return record_check(self.gs, self.account, check, quorum)

    def check_and_post(self, offer_id: int, url: str | None = None) -> tuple[Verdict, str]:
        """Challenge, then record the verdict; (verdict, transaction hash)."""
        verdict = self.challenge(offer_id, url)
        return verdict, self.post(verdict.check)


def record_check(
    gs: Gpusettle, account: LocalAccount, check: HardwareCheck, quorum: HardwareQuorum | None = None
) -> str:
    """Sign `check` with `account` (and, where the oracle set's threshold is above 1, gather its peers'
    co-signatures through `quorum`) and record it in the HardwareRegistry through `gs`; the transaction hash.

    ConfigError (before sending) when the deployment has no registry, or the threshold is above 1 and no peers are
    known; QuorumError when too few peers agree (nothing is sent)."""
    registry = gs.hardware_registry
    if registry is None:
        raise ConfigError(
            "the deployment record names no HardwareRegistry",
            "finish the deployment with `gpusettle deploy` (it adds the registry to an existing suite)",
        )
    oset = gs.oracle_set()
    domain = registry_domain(gs.chain.chain_id, str(registry.address))
    if oset.threshold > 1:
        if quorum is None or not quorum.peers:
            raise ConfigError(
                f"the oracle set needs {oset.threshold} signatures on a hardware check; this oracle gives one",
                "record checks from `gpusettle oracle run` with --peer URLs of the other oracles: each co-signs "
                "after a challenge of its own agrees",
            )
        chosen = quorum.attest(check, oset.epoch, oset.oracles, oset.threshold)
        signatures = [sig.as_tuple() for _, sig in chosen]
    else:
        signatures = [sign_check(check, oset.epoch, domain, bytes(account.key)).as_tuple()]
    plan = gs.chain.plan_call(
        f"record the hardware check of offer {check.offerId}",
        account.address,
        registry,
        "recordCheck",
        check.as_tuple(),
        signatures,
    )
    return gs.send(plan, account).tx_hash


class _Refused(Exception):
    """The worker refused or garbled a step."""
