"""The Ray instance an ``rllib`` command runs on: joining a cluster or starting a local one, its
log noise, and whether a trial's CPU/GPU request fits it.

Ray is imported inside the functions: ``rllib --help`` must answer without it (seconds).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from rllib_maaal.experiment import Experiment, ExperimentError


def quiet(verbose: bool) -> None:
    """Hide Ray's start-up, deprecation and info noise from the terminal (``--verbose`` keeps
    it): what a user reads is the progress lines and the summary."""
    if verbose:
        return
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # RLlib registers its env wrapper with gymnasium again for every runner it builds.
    warnings.filterwarnings("ignore", message=".*Overriding environment")
    import ray.rllib  # noqa: F401 - Ray sets its loggers' levels on import: set ours after

    for name in ("ray", "ray.rllib", "ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.ERROR)


class RayInstance:
    """Context: join ``address`` (or ``RAY_ADDRESS``) or start a local Ray instance; shuts down
    only what it started."""

    def __init__(self, address: str | None, verbose: bool = False) -> None:
        self.address = address
        self.verbose = verbose
        self.started = False

    def __enter__(self) -> bool:
        """Whether this started a local instance (which cannot grow, unlike a cluster)."""
        import ray

        import rllib_maaal

        rllib_maaal.register()
        # Without an address, ray.init() would join whichever cluster `ray start` last left on
        # this machine; "local" starts our own, as documented. RAY_ADDRESS still wins.
        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        check_reachable(address)
        if ray.is_initialized():
            return False
        try:
            ray.init(
                address=address,
                logging_level=logging.INFO if self.verbose else logging.ERROR,
                log_to_driver=self.verbose,
                include_dashboard=False if address == "local" else None,
            )
        except ConnectionError as err:
            raise ExperimentError(
                f"cannot connect to the Ray cluster at {self.address}: {err} (a cluster "
                "started with token authentication needs RAY_AUTH_MODE=token here too)"
            ) from err
        self.started = True
        if address != "local":
            resources = ray.cluster_resources()
            print(
                f"joined the Ray cluster at {address}: {resources.get('CPU', 0):g} CPUs, "
                f"{resources.get('GPU', 0):g} GPUs, {len(ray.nodes())} node(s)"
            )
        return address == "local"

    def __exit__(self, *exc: object) -> None:
        import ray

        if self.started:
            ray.shutdown()


def check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` nobody listens on: ray.init() would retry for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "local", "auto", ray:// client addresses: Ray resolves these itself.
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise ExperimentError(f"cannot reach a Ray cluster at {address}: {err}") from err


def trial_resources(exp: Experiment, configs: Sequence[Any]) -> dict[str, float]:
    """The largest CPU/GPU request of one trial over the points of ``exp``'s search space."""
    from rllib_maaal.experiment import algorithm_class

    algo_cls = algorithm_class(exp.run)
    needed: dict[str, float] = {}
    for config in configs:
        request = algo_cls.default_resource_request(config).required_resources
        for key, value in request.items():
            if key in ("CPU", "GPU"):
                needed[key] = max(needed.get(key, 0.0), float(value))
    return needed


def local_resources() -> dict[str, float]:
    """The CPUs and GPUs a local Ray instance would get on this machine."""
    from ray._private.utils import get_num_cpus

    gpus = 0
    with contextlib.suppress(Exception):
        from ray._private.accelerators import NvidiaGPUAcceleratorManager

        gpus = NvidiaGPUAcceleratorManager.get_current_node_num_accelerators()
    return {"CPU": float(get_num_cpus()), "GPU": float(gpus)}


def check_resources(
    exp: Experiment, needed: dict[str, float], available: dict[str, float], strict: bool
) -> None:
    """A trial that needs more CPUs/GPUs than Ray has would wait forever as PENDING: say so.

    PPO, for one, asks for 1 + ``num_env_runners`` (default 2) CPUs. ``strict`` (a local
    instance, which cannot grow) makes it an error; on a cluster, which may autoscale, a warning.
    Trials that fit one at a time but not all at once simply run one after another.
    """
    short = {k: v for k, v in needed.items() if v > available.get(k, 0.0)}
    if not short:
        return
    message = (
        f"experiment {exp.name!r}: a trial needs {short} but Ray has "
        f"{ {k: available.get(k, 0.0) for k in short} }; lower num_env_runners / num_learners "
        "(or their per-runner resources), e.g. --set config.num_env_runners=1"
    )
    if strict:
        raise ExperimentError(message)
    print(f"rllib: warning: {message}", file=sys.stderr)
