"""Deploying the gpusettle suite: the network table and the one deployment code path."""

from .core import DEPLOY_STEPS, DeployInterrupted, DeployResult, Roles, deploy_suite, record_path
from .networks import NETWORKS, DeployParameters, Network, apply_overrides, get_network, network_for_chain_id

__all__ = [
    "DEPLOY_STEPS",
    "NETWORKS",
    "DeployInterrupted",
    "DeployParameters",
    "DeployResult",
    "Network",
    "Roles",
    "apply_overrides",
    "deploy_suite",
    "get_network",
    "network_for_chain_id",
    "record_path",
]
