"""Deploy the whole gpusettle suite, idempotently and resumably.

The steps, in order (each one's result is written to `deployments/<chain id>.json` before the next
starts, and a sent transaction's hash is written before waiting for it):

1. ComputeToken(name, symbol, deployer, supply)
2. ProviderStaking(token, deployer, minStake, unbondingPeriod)   (deployer governs it until step 5)
3. JobEscrow(token, staking, governance, guardian, arbiter, treasury, oracles, threshold, params)
4. staking.setEscrow(escrow)                                      (the escrow may lock and slash stake)
5. LeaseEscrow(token, staking, escrow, governance, leaseParams)   (oracle set and roles are the JobEscrow's)
6. staking.setLeaseEscrow(leaseEscrow)                            (the lease escrow may reserve GPUs, lock and slash)
7. HardwareRegistry(escrow, staking)                              (per-offer hardware checks, the JobEscrow's oracles)
8. staking.transferGovernance(governance)                         (only when governance is not the deployer)

Re-running reads the record, checks that every recorded contract still has the recorded code hash on
chain, finds out which steps are done (from chain state, not only from the record) and does only the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from eth_utils.address import to_checksum_address
from web3.contract import Contract

from ..chain.abi import CONTRACT_NAMES, Artifact, load_artifacts
from ..chain.client import contract_key
from ..chain.revert import ErrorDecoder
from ..chain.tx import Chain, Signer, TxPlan, sender_address
from ..errors import ConfigError, GpusettleError, InsufficientFundsError
from ..hashing import keccak256
from ..models import DeploymentRecord
from ..units import format_units
from .networks import Network

__all__ = [
    "DEPLOY_STEPS",
    "DeployInterrupted",
    "DeployResult",
    "Roles",
    "StepState",
    "default_deployments_dir",
    "deploy_suite",
    "record_path",
]

DEPLOY_STEPS: tuple[str, ...] = (
    "ComputeToken",
    "ProviderStaking",
    "JobEscrow",
    "setEscrow",
    "LeaseEscrow",
    "setLeaseEscrow",
    "HardwareRegistry",
    "transferGovernance",
)
"""Step names, which are also the keys of the record's tx_hashes."""

# Rough gas for the configuration calls, used only for the cost estimate shown before anything is sent
# (they cannot be estimated before the contracts they call exist).
_CONFIG_GAS = {"setEscrow": 60_000, "setLeaseEscrow": 60_000, "transferGovernance": 60_000}

_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent.parent


def default_deployments_dir() -> Path:
    """`deployments/` of the project in the current directory, else of this checkout."""
    cwd = Path.cwd() / "deployments"
    if cwd.is_dir() or (Path.cwd() / "brownie-config.yaml").is_file():
        return cwd
    return _CHECKOUT_ROOT / "deployments"


def record_path(chain_id: int, directory: Path | None = None) -> Path:
    """Where the record for `chain_id` lives."""
    return (directory or default_deployments_dir()) / f"{chain_id}.json"


class DeployInterrupted(GpusettleError):
    """The deployment stopped on purpose after a step (tests and dry rehearsals use this)."""


@dataclass(frozen=True)
class Roles:
    """Who holds what after the deployment."""

    governance: str
    guardian: str
    arbiter: str
    treasury: str
    oracles: tuple[str, ...]

    @classmethod
    def defaults(
        cls,
        deployer: str,
        *,
        governance: str | None = None,
        guardian: str | None = None,
        arbiter: str | None = None,
        treasury: str | None = None,
        oracles: Sequence[str] = (),
    ) -> Roles:
        """Each role given, else the deployer; oracles sorted and de-duplicated."""

        def pick(v: str | None) -> str:
            return to_checksum_address(v) if v else to_checksum_address(deployer)

        unique = sorted({to_checksum_address(o) for o in oracles}, key=lambda a: int(a, 16))
        return cls(
            governance=pick(governance),
            guardian=pick(guardian),
            arbiter=pick(arbiter),
            treasury=pick(treasury),
            oracles=tuple(unique) if unique else (to_checksum_address(deployer),),
        )

    def as_record(self) -> dict[str, str]:
        """For the record's parameters."""
        return {
            "governance": self.governance,
            "guardian": self.guardian,
            "arbiter": self.arbiter,
            "treasury": self.treasury,
            "oracles": ",".join(self.oracles),
        }


@dataclass
class StepState:
    """What the deployer found about one step before doing anything."""

    name: str
    done: bool
    detail: str
    pending_tx: str | None = None
    gas: int = 0


@dataclass
class DeployResult:
    """What `deploy_suite` did."""

    record: DeploymentRecord
    path: Path
    sent: list[str] = field(default_factory=list)
    """Steps that sent a transaction in this run."""
    verified: list[str] = field(default_factory=list)
    """Contracts whose on-chain code hash was checked against the record."""
    aborted: bool = False


Echo = Callable[[str], None]
Confirm = Callable[[str], bool]


class _Deployment:
    def __init__(
        self,
        chain: Chain,
        network: Network,
        signer: Signer,
        roles: Roles,
        *,
        path: Path,
        artifacts: dict[str, Artifact],
        echo: Echo,
        confirmations: int,
    ) -> None:
        self.chain = chain
        self.network = network
        self.signer = signer
        self.deployer = sender_address(signer)
        self.roles = roles
        self.path = path
        self.artifacts = artifacts
        self.echo = echo
        self.confirmations = confirmations
        self.params = network.parameters
        self.record = self._load_or_new()

    # -- the record ------------------------------------------------------------------------------------

    def _wanted_parameters(self) -> dict[str, int | str]:
        out: dict[str, int | str] = dict(self.params.as_record())
        out.update(self.roles.as_record())
        out["deployer"] = self.deployer
        return out

    def _load_or_new(self) -> DeploymentRecord:
        fresh = DeploymentRecord(
            chain_id=self.chain.chain_id,
            network=self.network.name,
            deploy_block=0,
            parameters=self._wanted_parameters(),
            compiler_version=self.artifacts["JobEscrow"].compiler_version,
        )
        if not self.path.is_file():
            return fresh
        record = DeploymentRecord.load(self.path)
        if record.chain_id != self.chain.chain_id:
            raise ConfigError(
                f"{self.path} is for chain {record.chain_id} but the node serves chain {self.chain.chain_id}",
                "point the RPC URL at the right chain",
            )
        if (
            self.network.development
            and record.addresses
            and not any(self.chain.code(a) for a in record.addresses.values())
        ):
            self.echo(
                f"{self.path}: none of its contracts exist on this chain (a restarted local node); starting over"
            )
            return fresh
        return record

    def save(self) -> None:
        self.record.save(self.path)

    # -- checks ----------------------------------------------------------------------------------------

    def verify_code(self) -> list[str]:
        """Check every recorded contract's code hash on chain; ConfigError on any mismatch."""
        checked = []
        for name in CONTRACT_NAMES:
            key = contract_key(name)
            address = self.record.addresses.get(key)
            if address is None:
                continue
            code = self.chain.code(address)
            actual = "0x" + keccak256(code).hex()
            expected = self.record.code_hashes.get(key)
            if not code:
                raise ConfigError(
                    f"the record says {name} is at {address} but there is no contract there on chain "
                    f"{self.chain.chain_id}",
                    f"the chain was reset or the record belongs elsewhere: move {self.path} away to deploy afresh",
                )
            if expected is not None and expected != actual:
                raise ConfigError(
                    f"{name} at {address} has code hash {actual}, but the record says {expected}",
                    f"the record does not match the chain: inspect {self.path} before going on",
                )
            if expected is None:
                self.record.code_hashes[key] = actual
            checked.append(name)
        return checked

    def check_parameters(self) -> None:
        """A partial record must be finished with the parameters it was started with."""
        if not self.record.addresses:
            self.record.parameters = self._wanted_parameters()
            return
        wanted = self._wanted_parameters()
        diffs = [
            f"{k}: record {self.record.parameters.get(k)!r}, now {v!r}"
            for k, v in wanted.items()
            if k in self.record.parameters and self.record.parameters[k] != v
        ]
        if diffs and not self.record.complete:
            raise ConfigError(
                "this deployment was started with other parameters or roles (" + "; ".join(diffs) + ")",
                f"resume with the same settings, or move {self.path} away to start a fresh deployment",
            )
        if diffs:
            self.echo(
                "note: the deployed suite keeps the parameters it was deployed with: " + "; ".join(diffs)
            )

    # -- contracts -------------------------------------------------------------------------------------

    def contract(self, name: str) -> Contract:
        address = self.record.addresses[contract_key(name)]
        c = self.chain.w3.eth.contract(
            address=to_checksum_address(address), abi=cast(Any, self.artifacts[name].abi)
        )
        self.chain.register_contract(name, c)
        return c

    def constructor_args(self, name: str, placeholder: bool = False) -> list[Any]:
        addrs = self.record.addresses
        dummy = self.deployer
        p = self.params
        if name == "ComputeToken":
            return [p.token_name, p.token_symbol, self.deployer, p.token_supply]
        if name == "ProviderStaking":
            token = addrs.get("token") or (dummy if placeholder else None)
            return [token, self.deployer, p.min_stake, p.unbonding_period]
        if name == "JobEscrow":
            token = addrs.get("token") or (dummy if placeholder else None)
            staking = addrs.get("staking") or (dummy if placeholder else None)
            r = self.roles
            return [
                token,
                staking,
                r.governance,
                r.guardian,
                r.arbiter,
                r.treasury,
                list(r.oracles),
                p.oracle_threshold,
                p.escrow_parameters(),
            ]
        if name == "LeaseEscrow":
            token = addrs.get("token") or (dummy if placeholder else None)
            staking = addrs.get("staking") or (dummy if placeholder else None)
            escrow = addrs.get("escrow") or (dummy if placeholder else None)
            return [token, staking, escrow, self.roles.governance, p.lease_parameters()]
        if name == "HardwareRegistry":
            escrow = addrs.get("escrow") or (dummy if placeholder else None)
            staking = addrs.get("staking") or (dummy if placeholder else None)
            return [escrow, staking]
        raise KeyError(name)

    def plan_deploy(self, name: str, placeholder: bool = False) -> TxPlan:
        art = self.artifacts[name]
        if not art.bytecode or art.bytecode == "0x":
            raise ConfigError(f"the artifact for {name} has no bytecode", "run `brownie compile`")
        return self.chain.plan_deploy(
            f"deploy {name}",
            self.deployer,
            art.abi,
            art.bytecode,
            *self.constructor_args(name, placeholder),
            name=name,
        )

    # -- state of each step ----------------------------------------------------------------------------

    def states(self) -> list[StepState]:
        out = []
        for step in DEPLOY_STEPS:
            out.append(self.state(step))
        return out

    def state(self, step: str) -> StepState:
        rec = self.record
        if step in CONTRACT_NAMES:
            key = contract_key(step)
            if key in rec.addresses:
                return StepState(step, True, f"deployed at {rec.addresses[key]}")
            pending = rec.tx_hashes.get(step)
            return StepState(step, False, "to deploy", pending_tx=pending)
        if step == "setEscrow":
            if "staking" in rec.addresses and "escrow" in rec.addresses:
                current = str(self.contract("ProviderStaking").functions.escrow().call())
                if int(current, 16) != 0:
                    if to_checksum_address(current) != rec.addresses["escrow"]:
                        raise ConfigError(
                            f"ProviderStaking {rec.addresses['staking']} is bound to another escrow {current}",
                            f"the staking contract cannot be re-bound: move {self.path} away and deploy afresh",
                        )
                    return StepState(step, True, f"staking bound to escrow {current}")
            return StepState(step, False, "bind the staking contract to the escrow", gas=_CONFIG_GAS[step])
        if step == "setLeaseEscrow":
            if "staking" in rec.addresses and "leaseEscrow" in rec.addresses:
                current = str(self.contract("ProviderStaking").functions.leaseEscrow().call())
                if int(current, 16) != 0:
                    if to_checksum_address(current) != rec.addresses["leaseEscrow"]:
                        raise ConfigError(
                            f"ProviderStaking {rec.addresses['staking']} is bound to another lease escrow {current}",
                            f"the staking contract cannot be re-bound: move {self.path} away and deploy afresh",
                        )
                    return StepState(step, True, f"staking bound to lease escrow {current}")
            return StepState(
                step, False, "bind the staking contract to the lease escrow", gas=_CONFIG_GAS[step]
            )
        if step == "transferGovernance":
            if self.roles.governance == self.deployer:
                return StepState(step, True, "not needed (the deployer governs)")
            if "staking" in rec.addresses:
                staking = self.contract("ProviderStaking")
                gov = to_checksum_address(staking.functions.governance().call())
                pending = to_checksum_address(staking.functions.pendingGovernance().call())
                if self.roles.governance in (gov, pending):
                    return StepState(step, True, f"staking governance handed to {self.roles.governance}")
            return StepState(
                step,
                False,
                f"offer staking governance to {self.roles.governance} (it must call acceptGovernance)",
                gas=_CONFIG_GAS[step],
            )
        raise KeyError(step)

    # -- doing -----------------------------------------------------------------------------------------

    def adopt_pending(self, step: str, tx_hash: str) -> bool:
        """Resume a deployment whose transaction was sent before an interruption; True when adopted."""
        receipt = self.chain.find_receipt(tx_hash)
        if receipt is None:
            if self.chain.is_pending(tx_hash):
                self.echo(f"{step}: waiting for the transaction sent before the interruption, {tx_hash}")
                self.finish_deploy(step, tx_hash, self.plan_deploy(step))
                return True
            self.echo(
                f"{step}: the earlier transaction {tx_hash} is unknown to the node (dropped); sending again"
            )
            del self.record.tx_hashes[step]
            self.save()
            return False
        if int(receipt["status"]) != 1 or not receipt.get("contractAddress"):
            self.echo(f"{step}: the earlier transaction {tx_hash} failed; sending again")
            del self.record.tx_hashes[step]
            self.save()
            return False
        self.echo(f"{step}: found the transaction sent before the interruption, {tx_hash}")
        self.finish_deploy(step, tx_hash, None)
        return True

    def finish_deploy(self, step: str, tx_hash: str, plan: TxPlan | None) -> None:
        outcome = self.chain.wait(tx_hash, plan, confirmations=self.confirmations)
        address = outcome.contract_address
        if address is None:
            raise GpusettleError(f"{step}: transaction {tx_hash} created no contract")
        key = contract_key(step)
        code = self.chain.code(address)
        self.record.addresses[key] = address
        self.record.code_hashes[key] = "0x" + keccak256(code).hex()
        self.record.tx_hashes[step] = tx_hash
        if step == "ComputeToken" or not self.record.deploy_block:
            self.record.deploy_block = outcome.block_number
        self.record.compiler_version = self.artifacts[step].compiler_version
        self.save()
        self.echo(
            f"{step}: deployed at {address} (tx {tx_hash}, block {outcome.block_number}, gas {outcome.gas_used:,})"
        )

    def run_step(self, step: str) -> None:
        if step in CONTRACT_NAMES:
            plan = self.plan_deploy(step)
            self.chain.check_gas_funds(plan)
            tx_hash = self.chain.submit(plan, self.signer)
            self.record.tx_hashes[step] = tx_hash
            self.save()
            self.echo(f"{step}: sent {tx_hash}")
            self.finish_deploy(step, tx_hash, plan)
            return
        staking = self.contract("ProviderStaking")
        if step == "setEscrow":
            plan = self.chain.plan_call(
                "bind ProviderStaking to the JobEscrow",
                self.deployer,
                staking,
                "setEscrow",
                self.record.addresses["escrow"],
            )
        elif step == "setLeaseEscrow":
            plan = self.chain.plan_call(
                "bind ProviderStaking to the LeaseEscrow",
                self.deployer,
                staking,
                "setLeaseEscrow",
                self.record.addresses["leaseEscrow"],
            )
        elif step == "transferGovernance":
            plan = self.chain.plan_call(
                f"offer ProviderStaking governance to {self.roles.governance}",
                self.deployer,
                staking,
                "transferGovernance",
                self.roles.governance,
            )
        else:
            raise KeyError(step)
        self.chain.check_gas_funds(plan)
        tx_hash = self.chain.submit(plan, self.signer)
        self.record.tx_hashes[step] = tx_hash
        self.save()
        self.echo(f"{step}: sent {tx_hash}")
        outcome = self.chain.wait(tx_hash, plan, confirmations=self.confirmations)
        self.echo(f"{step}: done (block {outcome.block_number}, gas {outcome.gas_used:,})")


def deploy_suite(
    chain: Chain,
    network: Network,
    signer: Signer,
    *,
    roles: Roles | None = None,
    deployments_dir: Path | None = None,
    confirmations: int | None = None,
    assume_yes: bool = False,
    confirm: Confirm | None = None,
    echo: Echo = print,
    artifacts: dict[str, Artifact] | None = None,
    stop_after: int | None = None,
) -> DeployResult:
    """Deploy (or finish deploying, or verify) the suite on `chain` as `network` says.

    Prints the plan (network, chain id, deployer, balance, parameters, estimated cost), asks `confirm`
    unless `assume_yes`, then runs the missing steps, writing the record after each one. `stop_after`
    raises DeployInterrupted after that many steps have been done in this run (rehearsals of a crash).
    """
    if chain.chain_id != network.chain_id:
        from ..errors import WrongChainError

        raise WrongChainError(network.chain_id, chain.chain_id, network.name)
    deployer = sender_address(signer)
    if isinstance(signer, str) and not network.development:
        raise ConfigError(
            f"network {network.name!r} is live: it needs a keystore account, not a node-unlocked one",
            "pass --account ALIAS (create or import it with `gpusettle wallet`)",
        )
    network.parameters.check()
    arts = artifacts or load_artifacts()
    chain.decoder = ErrorDecoder(a.abi for a in arts.values())
    roles = roles or Roles.defaults(deployer)
    if network.parameters.oracle_threshold > len(roles.oracles):
        raise ConfigError(
            f"oracle threshold {network.parameters.oracle_threshold} is above the {len(roles.oracles)} oracles given",
            "name more oracles or lower the threshold",
        )
    path = record_path(chain.chain_id, deployments_dir)
    confirms = network.settings.confirmations if confirmations is None else confirmations
    dep = _Deployment(
        chain, network, signer, roles, path=path, artifacts=arts, echo=echo, confirmations=max(confirms, 1)
    )
    result = DeployResult(record=dep.record, path=path)

    result.verified = dep.verify_code()
    dep.check_parameters()
    states = dep.states()
    todo = [s for s in states if not s.done]

    # -- the plan
    balance = chain.balance(deployer)
    echo(f"network       {network.name} (chain id {chain.chain_id}, {chain.rpc_url.split('?')[0]})")
    echo(f"deployer      {deployer}  balance {format_units(balance)} ETH")
    echo(f"record        {path}{' (resuming)' if dep.record.addresses and not dep.record.complete else ''}")
    echo(f"confirmations {max(confirms, 1)}")
    echo("roles         " + ", ".join(f"{k} {v}" for k, v in roles.as_record().items()))
    echo("parameters    " + ", ".join(f"{k} {v}" for k, v in network.parameters.render().items()))
    if result.verified:
        echo(f"verified      on-chain code hashes of {', '.join(result.verified)} match the record")
    for s in states:
        echo(f"  [{'done' if s.done else 'todo'}] {s.name}: {s.detail}")
    if not todo:
        if not dep.record.complete:
            dep.record.complete = True
        dep.save()
        echo("nothing to deploy: the suite is complete and matches the chain")
        return result

    total_gas = 0
    fee = 0
    for s in todo:
        if s.name in CONTRACT_NAMES and not s.pending_tx:
            try:
                plan = dep.plan_deploy(s.name, placeholder=True)
            except GpusettleError:
                # Its constructor calls a contract that does not exist yet: approximate from the code
                # size (200 gas per stored byte, plus creation and constructor work).
                runtime = len(arts[s.name].deployed_bytecode) // 2
                total_gas += 200 * runtime + 500_000
                continue
            total_gas += plan.gas_estimate
            fee = max(fee, plan.legacy_gas_price or plan.max_fee_per_gas)
        else:
            total_gas += s.gas
    if fee == 0:
        fee = chain.plan("probe", deployer, to=deployer, data="0x").max_fee_per_gas
    cost = total_gas * fee
    echo(f"estimated     {total_gas:,} gas at up to {fee / 1e9:.3g} gwei: at most {format_units(cost)} ETH")
    if balance < cost:
        raise InsufficientFundsError(deployer, format_units(cost), format_units(balance), "ETH (for gas)")
    if not assume_yes and (confirm is None or not confirm(f"deploy {len(todo)} step(s) to {network.name}?")):
        echo("aborted: nothing was sent")
        result.aborted = True
        return result

    done_now = 0
    for s in todo:
        current = dep.state(s.name)  # earlier steps may have changed what this one needs
        if current.done:
            continue
        if current.pending_tx and dep.adopt_pending(s.name, current.pending_tx):
            result.sent.append(s.name)
        else:
            dep.run_step(s.name)
            result.sent.append(s.name)
        done_now += 1
        if stop_after is not None and done_now >= stop_after:
            raise DeployInterrupted(
                f"stopped after {done_now} step(s) as asked", "run the deployment again to resume"
            )
    dep.record.complete = True
    dep.save()
    result.verified = dep.verify_code()
    echo(f"complete: record written to {path}")
    return result
