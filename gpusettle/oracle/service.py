"""The oracle daemon: HTTP intake (uvicorn), the background verifier, the poster and the fraud reporter.

Threads: uvicorn's event loop serves the API; the store's writer commits; `verifier` checks received
receipts against fresh chain state (and matmul results with Freivalds); `poster` batches, attests and
settles verified receipts; fraud reports go out from the verifier thread with the arbiter key; `hardware`
challenges offers' GPUs on a random schedule (gpusettle.oracle.hardware_schedule), its verdicts recorded
from the poster's thread.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from pydantic import ValidationError

from ..chain import DecodedContractError, Gpusettle, JobInfo
from ..chain.finality import confirmations_for
from ..eip712 import ReceiptVerifier, attestation_digest, receipts_hash, sign_digest
from ..errors import GpusettleError, RpcUnavailableError
from ..hardware.attest import registry_domain
from ..hardware.models import HardwareCheck
from ..hardware.sizing import ChallengeSettings
from ..models import JobSpec, SignedReceipt
from .app import IntakeSettings, OracleApp
from .chainview import ChainView, Web3ChainView, WorkerKeyCache
from .checkpoint_quorum import CheckpointCosignRequest
from .endpoints import EndpointSettings, WorkerUrls
from .hardware import HardwareChecker, record_check
from .hardware_quorum import HardwareCosigner, HardwareQuorum
from .hardware_schedule import HardwareSchedule, HardwareScheduler
from .lease_work import LeaseSettings, LeaseWork
from .leaseview import LeaseView, Web3LeaseView
from .metrics import OracleMetrics
from .poster import Poster, PosterSettings
from .quorum import CosignRequest, PeerFetcher, QuorumSigner
from .results import ResultFiles
from .store import (
    RECEIVED,
    VERIFIED,
    SQLiteStore,
    Store,
    StoredReceipt,
    StoreUnavailableError,
    open_store,
)
from .stored import UnreadableReceiptError, signed_of
from .verify import (
    IntakeRejection,
    ReceiptSubmission,
    Verdict,
    VerdictKind,
    check_against_chain,
    check_submission,
    fraud_evidence_hash,
)

__all__ = ["OracleConfig", "OracleService"]

log = logging.getLogger("gpusettle.oracle")


@dataclass
class OracleConfig:
    """Everything an oracle needs to run."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8700
    public_url: str | None = None
    """How peers reach this oracle (for results and specs); defaults to http://host:port."""
    peers: list[str] = field(default_factory=list)
    post: bool = True
    """False for a co-signing peer that never sends transactions."""
    poster: PosterSettings = field(default_factory=PosterSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    poll_interval: float = 0.2
    synchronous: str = "FULL"
    freivalds_rounds: int | None = None
    store: str | None = None
    """A postgresql:// DSN: the store lives in PostgreSQL, which several oracle processes may share
    (one of them, the holder of the posting lease, verifies and posts). None: SQLite in data_dir."""
    lease_poll: float = 0.5
    """Seconds between tries to take the posting lease while another oracle holds it."""
    retention_margin: float = 7 * 86400.0
    """Settled and rejected receipts, their result payloads and closed batches are kept this long after
    the dispute window."""
    input_retention: float = 3 * 86400.0
    """Client input files are kept this long after their (last) upload, seconds."""
    dispute_window: int | None = None
    """The escrow's dispute window in seconds; None reads it from the escrow."""
    prune_every: float = 600.0
    """Seconds between prunes of what retention lets go."""
    leases: LeaseSettings = field(default_factory=LeaseSettings)
    """Heartbeats, probes and checkpoints (used when the oracle follows a LeaseEscrow)."""
    hardware: HardwareSchedule = field(default_factory=HardwareSchedule)
    """When offers' hardware is checked (gpusettle.oracle.hardware_schedule)."""
    challenge: ChallengeSettings = field(default_factory=ChallengeSettings)
    """How a hardware check is sized and timed, and where the providers' workers answer (the operator's
    --worker-url; the providers' own announcements fill in the rest where the oracle follows a LeaseEscrow)."""
    endpoints: EndpointSettings = field(default_factory=EndpointSettings)
    """What the oracle takes from the workers' endpoint announcements."""

    @property
    def url(self) -> str:
        """This oracle's base URL."""
        return self.public_url or f"http://{self.host}:{self.port}"


class OracleService:
    """One oracle: its store, its API and its background threads."""

    def __init__(
        self,
        config: OracleConfig,
        client_factory: Callable[[], Gpusettle],
        oracle_account: LocalAccount,
        arbiter_account: LocalAccount | None = None,
        view: ChainView | None = None,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        lease_view: LeaseView | None = None,
    ) -> None:
        """`store` defaults to SQLite (WAL) in the data directory; any `Store` (PostgreSQL) will do.
        `clock` is wall-clock time (tests move it). `lease_view` is the LeaseEscrow as the oracle sees
        it; by default read through the client's `lease_escrow` contract when the deployment has one
        (no LeaseEscrow: no heartbeats, probes or checkpoints)."""
        self.config = config
        self.clock = clock
        self.client_factory = client_factory
        self.account = oracle_account
        self.arbiter = arbiter_account
        if arbiter_account is not None and arbiter_account.address == oracle_account.address:
            raise GpusettleError(
                "the arbiter key and the oracle's posting key are the same account",
                "use a separate arbiter key: the poster manages its own nonces",
            )
        client = client_factory()
        self.client = client
        self.view: ChainView = view or Web3ChainView(client_factory, client)
        self.metrics = OracleMetrics()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        if store is None and config.store:
            store = open_store(config.store)
        self.store: Store = store or SQLiteStore(
            config.data_dir / "oracle.sqlite", synchronous=config.synchronous
        )
        self._dispute_window: int | None = config.dispute_window
        self._last_prune = 0.0
        self.results_dir = config.data_dir / "results"
        self.results = ResultFiles(self.results_dir)
        self.payloads = self.results.lookup
        self.peer_fetcher = PeerFetcher(
            config.peers, max_result=config.intake.max_result, max_spec=config.intake.max_spec
        )
        self.verifier = ReceiptVerifier(self.view.chain_id, self.view.escrow_address)
        self.signer = QuorumSigner(
            domain=self.verifier.domain,
            key=bytes(oracle_account.key),
            address=oracle_account.address,
            peers=list(config.peers),
        )
        self.worker_urls = WorkerUrls(
            configured={**config.leases.probes.worker_urls, **config.challenge.worker_urls},
            store=self.store,
            allow_private=config.endpoints.allow_private,
            current_worker=WorkerKeyCache(self.view).fetch,
        )
        self.lease_work = self._lease_work(client, lease_view)
        self._cosign_checker: HardwareChecker | None = None
        self.app = OracleApp(
            store=self.store,
            verifier=self.verifier,
            keys=WorkerKeyCache(self.view),
            results_dir=self.results_dir,
            inputs_dir=config.data_dir / "inputs",
            metrics=self.metrics,
            settings=config.intake,
            cosign=self.cosign,
            info={
                "oracle": oracle_account.address,
                "chain_id": self.view.chain_id,
                "escrow": self.view.escrow_address,
                "posting": config.post,
            },
            clock=clock,
            lease_domain=self.lease_work.domain if self.lease_work else None,
            lease_terms=self.lease_work.terms if self.lease_work else None,
            heartbeat_settings=config.leases.heartbeats,
            endpoint_settings=config.endpoints,
            cosign_checkpoints=self.cosign_checkpoints if self.lease_work else None,
            cosign_hardware=self._hardware_cosigner(client, oracle_account),
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.poster = Poster(
            store=self.store,
            client=client_factory(),
            account=oracle_account,
            signer=self.signer,
            view=self.view,
            settings=config.poster,
            metrics=self.metrics,
            clock=clock,
        )
        self.hardware: HardwareScheduler | None = None
        self._hardware_checker: HardwareChecker | None = None
        self._schedule_hardware(client)

    def _hardware_cosigner(self, client: Gpusettle, account: LocalAccount) -> HardwareCosigner | None:
        """The peer side of co-signed hardware records: on where the deployment has a HardwareRegistry. It
        challenges offers itself (at the worker URLs of this oracle's own settings) before it co-signs."""
        registry = getattr(client, "hardware_registry", None)
        if registry is None:
            return None
        gs = self.client_factory()
        checker = HardwareChecker(
            gs, account, self.config.challenge, clock=self.clock, transport=self.worker_urls.transport()
        )
        self._cosign_checker = checker

        class _View:
            @staticmethod
            def oracle_epoch() -> int:
                return self.view.oracle_set().epoch

            @staticmethod
            def offer_terms(offer_id: int) -> tuple[str, int, int, bool]:
                o = gs.offer(offer_id)
                return o.provider, o.gpu_count, o.vram_gb, o.active

        return HardwareCosigner(
            view=_View(),
            challenge=lambda offer_id, url: checker.challenge(offer_id, url).check,
            worker_urls=self.worker_urls,
            registry_domain=registry_domain(client.chain.chain_id, str(registry.address)),
            key=bytes(account.key),
            clock=self.clock,
        )

    def _schedule_hardware(self, client: Gpusettle) -> None:
        """Scheduled hardware checks: on when `config.hardware.every` > 0, worker URLs can be known (configured,
        or announced to an oracle that follows a LeaseEscrow), this oracle posts and the deployment has a
        HardwareRegistry."""
        schedule, challenge = self.config.hardware, self.config.challenge
        if schedule.every <= 0 or not (challenge.worker_urls or self.app.endpoint_intake is not None):
            return
        if not self.config.post:
            log.info("no scheduled hardware checks: this oracle records nothing (--no-post)")
            return
        if getattr(client, "hardware_registry", None) is None:
            log.warning("no scheduled hardware checks: the deployment has no HardwareRegistry")
            return
        gs = self.client_factory()
        checker = HardwareChecker(
            gs, self.account, challenge, clock=self.clock, transport=self.worker_urls.transport()
        )
        poster_client, account = self.poster.client, self.account
        registry = client.hardware_registry
        assert registry is not None  # checked above
        quorum = HardwareQuorum(
            registry_domain=registry_domain(client.chain.chain_id, str(registry.address)),
            peer_domain=self.verifier.domain,
            key=bytes(account.key),
            address=account.address,
            peers=list(self.config.peers),
        )

        def record(check: HardwareCheck) -> str:
            return record_check(poster_client, account, check, quorum)

        self._hardware_checker = checker
        self.hardware = HardwareScheduler(
            chain=gs,
            challenge=checker.challenge,
            record=record,
            worker_urls=self.worker_urls,
            settings=schedule,
            metrics=self.metrics,
            clock=self.clock,
            cosigned=bool(quorum.peers),
        )

    def _lease_work(self, client: Gpusettle, view: LeaseView | None) -> LeaseWork | None:
        contract = getattr(client, "lease_escrow", None)
        if view is None and contract is not None:
            spare: list[Gpusettle] = [client]

            def per_thread() -> tuple[Any, Callable[[], int]]:
                # A client of its own per thread (as Web3ChainView): web3 connections are not shared.
                own = spare.pop() if spare else self.client_factory()
                return getattr(own, "lease_escrow", None), lambda: own.chain.timestamp("latest")

            view = Web3LeaseView(per_thread, client.chain.chain_id)
        if view is None:
            return None
        return LeaseWork(
            store=self.store,
            view=view,
            chain_view=self.view,
            peer_domain=self.verifier.domain,
            account=self.account,
            peers=list(self.config.peers),
            settings=self.config.leases,
            metrics=self.metrics,
            chain=client.chain if contract is not None else None,
            contract=contract,
            poster_settings=self.config.poster,
            confirmations=confirmations_for(client.chain.chain_id, self.config.poster.confirmations),
            clock=self.clock,
            worker_urls=self.worker_urls,
        )

    def cosign_checkpoints(
        self, request: CheckpointCosignRequest, peer: str
    ) -> tuple[int, dict[str, object]]:
        """POST /v1/cosign/checkpoints (blocking, on the app's peers pool)."""
        assert self.lease_work is not None
        return self.lease_work.cosign(request, peer, self.view.oracle_set())

    def post_all_once(self) -> bool:
        """The poster thread: receipts, then lease checkpoints (one account, one nonce sequence)."""
        moved = self.poster.step()
        if self.lease_work is not None:
            moved = self.lease_work.post_once() or moved
        # Hardware verdicts go out with the node's next nonce: only while no batch of this account is open.
        if (
            self.hardware is not None
            and self.hardware.pending()
            and not self.store.open_batches()
            and not self.store.open_checkpoint_batches()
        ):
            moved = self.hardware.post_once() or moved
        return moved

    # -- background threads ----------------------------------------------------------------------------

    def start_background(self) -> None:
        """Start the verifier and (when posting) the poster."""
        self._stop.clear()
        # Only the holder of the posting lease runs these (always this process on SQLite).
        targets: list[tuple[str, Callable[[], bool]]] = [("verifier", self.verify_once)]
        if self.config.post:
            targets.append(("poster", self.post_all_once))
        if self.lease_work is not None:
            targets.append(("prober", self.lease_work.probe_once))
            targets.append(("checkpointer", self.lease_work.build_once))
        if self.hardware is not None:
            targets.append(("hardware", self.hardware.step))
        if self.arbiter is not None:
            targets.append(("fraud-reporter", self.report_fraud_once))
        for name, fn in targets:
            thread = threading.Thread(target=self._loop, args=(name, fn), name=f"oracle-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        # Every instance keeps payloads and inputs in its own data directory and prunes them, lease or not;
        # prune_once leaves the shared store's rows to the lease holder.
        pruner = threading.Thread(
            target=self._loop, args=("pruner", self.prune_once, False), name="oracle-pruner", daemon=True
        )
        pruner.start()
        self._threads.append(pruner)

    def holds_lease(self) -> bool:
        """Whether this oracle may verify and post now (see Store.hold_posting_lease)."""
        try:
            return self.store.hold_posting_lease()
        except Exception as exc:  # noqa: BLE001 - no lease while the store cannot say
            log.warning("cannot check the posting lease: %s", exc)
            return False

    def _loop(self, name: str, fn: Callable[[], bool], leased: bool = True) -> None:
        while not self._stop.is_set():
            if leased and not self.holds_lease():
                # Another oracle sharing the store posts; take over when its lease is released.
                self._stop.wait(self.config.lease_poll)
                continue
            try:
                busy = fn()
            except StoreUnavailableError as exc:
                log.error("%s: %s", name, exc.reason)
                busy = False
                self._stop.wait(2.0)
            except (OSError, RpcUnavailableError) as exc:
                # The node is down or unreachable: expected during outages, so one line, not a traceback.
                log.warning("%s: cannot reach the node (%s); retrying in 2 s", name, exc)
                busy = False
                self._stop.wait(2.0)
            except Exception:
                log.exception("%s: unexpected error; retrying in 2 s", name)
                busy = False
                self._stop.wait(2.0)
            if not busy:
                self._stop.wait(self.config.poll_interval)

    def stop(self) -> None:
        """Stop the threads and close the store."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads.clear()
        self.app.close()
        self.peer_fetcher.close()
        if self.lease_work is not None:
            self.lease_work.close()
        if self._hardware_checker is not None:
            self._hardware_checker.close()
        if self._cosign_checker is not None:
            self._cosign_checker.close()
        self.store.close()

    # -- verification ----------------------------------------------------------------------------------

    def _spec(self, job: JobInfo | None, supplied: dict[str, str] | None = None) -> JobSpec | None:
        if job is None:
            return None
        body = self.store.spec(job.spec_hash)
        if body is None and supplied and job.spec_hash in supplied:
            body = supplied[job.spec_hash]
        if body is None:
            return None
        try:
            spec = JobSpec.model_validate_json(body)
        except ValidationError:
            return None
        return spec if spec.spec_hash() == job.spec_hash else None

    def _judge(
        self,
        items: list[tuple[SignedReceipt, str, float]],
        supplied_specs: dict[str, str] | None = None,
        fetch: Callable[[str], bytes | None] | None = None,
    ) -> list[Verdict]:
        """Fresh chain state for all `items` (receipt, signer, received_at), then the checks."""
        jobs = self.view.jobs([signed.receipt.jobId for signed, _, _ in items])
        providers = {signed.receipt.provider for signed, _, _ in items}
        workers = {p: self.view.worker_of(p) for p in providers}
        now = self.clock()
        chain_now = max(self.view.chain_time(), int(now))
        payload = fetch or self.payloads
        verdicts = []
        for signed, signer, received_at in items:
            job = jobs.get(signed.receipt.jobId)
            verdicts.append(
                check_against_chain(
                    signed,
                    signer,
                    job,
                    workers[signed.receipt.provider],
                    chain_now,
                    self._spec(job, supplied_specs),
                    payload,
                    received_at=received_at,
                    now=now,
                    freivalds_rounds=self.config.freivalds_rounds,
                )
            )
        return verdicts

    def verify_once(self, limit: int = 500) -> bool:
        """Check a round of received receipts; True when any changed status."""
        self.app.keys.refresh_all()
        pending: list[StoredReceipt] = self.store.receipts(RECEIVED, limit=limit)
        if not pending:
            return False
        readable: list[StoredReceipt] = []
        items: list[tuple[SignedReceipt, str, float]] = []
        moved = False
        for stored in pending:
            try:
                items.append((signed_of(stored), stored.signer, stored.received_at))
            except UnreadableReceiptError as exc:
                log.error("%s", exc)
                self.metrics.verified.labels("unreadable").inc()
                moved = self.store.reject(stored.job_id, exc.reason, only_from=RECEIVED) or moved
                continue
            readable.append(stored)
        verdicts = self._judge(items) if items else []
        ok: list[int] = []
        for stored, verdict in zip(readable, verdicts, strict=True):
            self.metrics.verified.labels(verdict.kind).inc()
            if verdict.kind == VerdictKind.OK:
                ok.append(stored.job_id)
            elif verdict.kind in (VerdictKind.REJECT, VerdictKind.FRAUD):
                log.warning("job %d rejected: %s", stored.job_id, verdict.reason)
                fraud = None
                if verdict.kind == VerdictKind.FRAUD:
                    fraud = (
                        "pending"
                        if self.arbiter is not None
                        else "not reported: this oracle has no arbiter key (the arbiter should call reportFraud)"
                    )
                # One transaction: a crash can never leave a fraud rejected but unreported.
                self.store.reject(stored.job_id, verdict.reason, fraud=fraud, only_from=RECEIVED)
                moved = True
        if ok:
            self.store.set_status(ok, VERIFIED, only_from=RECEIVED)
            moved = True
        return moved

    def report_fraud_once(self) -> bool:
        """Send reportFraud for rejected fraudulent receipts (arbiter key only)."""
        assert self.arbiter is not None
        pending = self.store.fraud_pending()
        if not pending:
            return False
        client = self.poster.client
        for stored in pending:
            try:
                signed = signed_of(stored)
            except UnreadableReceiptError as exc:
                self.store.set_fraud(stored.job_id, f"not reported: {exc.reason}")
                continue
            evidence = fraud_evidence_hash(signed, stored.reason or "")
            try:
                plan = client.chain.plan_call(
                    f"report fraud on job {stored.job_id}",
                    self.arbiter.address,
                    client.escrow,
                    "reportFraud",
                    stored.job_id,
                    evidence,
                )
                outcome = client.chain.send(plan, self.arbiter, confirmations=self.poster.confirmations)
            except DecodedContractError as err:
                note = f"not reported: the escrow refused ({err.message})"
                self.store.set_fraud(stored.job_id, note)
                self.metrics.fraud_reports.labels("refused").inc()
                log.warning("job %d: fraud report %s", stored.job_id, note)
                continue
            except GpusettleError as err:
                log.warning("job %d: fraud report failed, will retry: %s", stored.job_id, err)
                return False
            self.store.set_fraud(
                stored.job_id, f"reported in tx {outcome.tx_hash} (evidence 0x{evidence.hex()})"
            )
            self.metrics.fraud_reports.labels("reported").inc()
            log.warning("job %d: fraud reported in tx %s", stored.job_id, outcome.tx_hash)
        return True

    # -- retention -------------------------------------------------------------------------------------

    def prune_once(self) -> bool:
        """Every `prune_every` seconds, let go of what retention allows: client inputs uploaded more than
        `input_retention` ago, result payloads, then (only on the holder of the posting lease, as the
        store may be shared) the store's receipts, batches and transactions, final (settled or rejected)
        for longer than the dispute window plus `retention_margin`. Payloads go before receipts, while
        their receipts still say how they ended. Never reports work done (it runs rarely)."""
        now = self.clock()
        if now - self._last_prune < self.config.prune_every:
            return False
        self._last_prune = now
        self.app.inputs.prune(self.config.input_retention, now)
        if self._dispute_window is None:
            try:
                self._dispute_window = int(self.client.parameters().dispute_window)
            except Exception as exc:  # noqa: BLE001 - try again next round; nothing is lost by waiting
                log.warning("cannot read the escrow's dispute window, not pruning yet: %s", exc)
                return False
        keep = self._dispute_window + self.config.retention_margin

        def state_of(job_id: int) -> tuple[str, float] | None:
            stored = self.store.receipt(job_id)
            return None if stored is None else (stored.status, stored.updated_at)

        self.results.prune(state_of, keep, now=now)
        if not self.holds_lease():
            return False
        cutoff = now - keep
        result = self.store.prune(cutoff)
        if result.heartbeats or result.checkpoints:
            log.info(
                "retention: forgot %d heartbeats and probes and %d checkpoints and their batches before %s",
                result.heartbeats,
                result.checkpoints,
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(cutoff)),
            )
        if result.receipts or result.batches or result.txs:
            log.info(
                "retention: forgot %d receipts, %d batches and %d transactions settled or rejected before %s",
                result.receipts,
                result.batches,
                result.txs,
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(cutoff)),
            )
        return False

    # -- co-signing for peers --------------------------------------------------------------------------

    def cosign(self, request: CosignRequest, peer: str) -> tuple[int, dict[str, object]]:
        """POST /v1/cosign (blocking; the app runs it on its peers pool): verify every receipt
        independently; sign the attestation only if all pass. `peer` is the authenticated asker."""
        epoch = request.epoch
        oracle_set = self.view.oracle_set()
        if epoch != oracle_set.epoch:
            return 409, {
                "error": "wrong_epoch",
                "reason": f"the oracle set is at epoch {oracle_set.epoch}, not {epoch}",
                "rejected": {},
            }
        if self.account.address not in oracle_set.oracles:
            return 409, {
                "error": "not_an_oracle",
                "reason": f"{self.account.address} is not in the oracle set",
                "rejected": {},
            }
        specs = {k.lower(): v for k, v in request.specs.items()}
        items: list[tuple[SignedReceipt, str, float]] = []
        rejected: dict[str, str] = {}
        now = self.clock()
        for raw in request.receipts:
            try:
                submission = ReceiptSubmission.model_validate_json(json.dumps(raw))
                signer, _ = check_submission(submission, self.verifier, now)
            except ValidationError as exc:
                return 422, {"error": "invalid_receipt", "reason": str(exc.errors(include_url=False)[:1])}
            except IntakeRejection as exc:
                rejected[str(submission.receipt.jobId)] = exc.reason
                continue
            items.append((submission.signed(), signer, 0.0))
        log.info("co-signing a batch of %d receipts for %s", len(items), peer)
        verdicts = self._judge(items, self._with_peer_specs(items, specs), self._fetcher())
        for (signed, _, _), verdict in zip(items, verdicts, strict=True):
            if verdict.kind != VerdictKind.OK:
                rejected[str(signed.receipt.jobId)] = verdict.reason or verdict.kind
        if rejected:
            return 409, {"error": "rejected", "reason": "some receipts did not verify", "rejected": rejected}
        receipts = [s.receipt for s, _, _ in items]
        if not receipts:
            return 422, {"error": "empty", "reason": "no receipts to co-sign"}
        digest = attestation_digest(receipts_hash(receipts), epoch, self.verifier.domain)
        r, vs = sign_digest(digest, bytes(self.account.key)).hex()
        return 200, {"signer": self.account.address, "r": r, "vs": vs}

    def _with_peer_specs(
        self, items: list[tuple[SignedReceipt, str, float]], specs: dict[str, str]
    ) -> dict[str, str]:
        """Specs the requester sent, plus any this oracle lacks fetched from its configured peers (the
        caller checks each against the job's specHash)."""
        jobs = self.view.jobs([s.receipt.jobId for s, _, _ in items])
        out = dict(specs)
        for job in jobs.values():
            if job.spec_hash in out or self.store.spec(job.spec_hash) is not None:
                continue
            body = self.peer_fetcher.spec(job.spec_hash)
            if body is not None:
                out[job.spec_hash] = body
        return out

    def _fetcher(self) -> Callable[[str], bytes | None]:
        """Result payloads from this oracle's store, else from its configured peers (checked by hash)."""
        local = self.payloads
        remote = self.peer_fetcher

        def fetch(result_hash: str) -> bytes | None:
            data = local(result_hash)
            return data if data is not None else remote.result(result_hash)

        return fetch

    # -- running ---------------------------------------------------------------------------------------

    def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Run until SIGINT or SIGTERM: background threads and the HTTP API (on `sockets` when the
        caller bound them already, so that "serving" is only said once the port is ours)."""
        import uvicorn

        self.start_background()
        config = uvicorn.Config(
            self.app.asgi(),
            host=self.config.host,
            port=self.config.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        log.info(
            "oracle %s serving on %s (chain %d, escrow %s, %s)",
            self.account.address,
            self.config.url,
            self.view.chain_id,
            self.view.escrow_address,
            "posting" if self.config.post else "co-signing only",
        )
        try:
            server.run(sockets=sockets)
        finally:
            self.stop()
