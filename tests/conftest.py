"""Shared fixtures: one Ray head node for the whole test session."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
import torch
from ray_nodes import free_port, ray_node

# Algorithms built in this process (num_env_runners: 0, local learner) compute here: one torch
# thread makes their numbers independent of the machine's core count (float sums depend on the
# thread count) and avoids two threads fighting Ray's processes for two cores (3-5x slower).
torch.set_num_threads(1)

#: Test modules whose ``start_early(items)`` ran: each one's ``stop_early()`` runs at the end.
_STARTED_EARLY: list = []


def pytest_collection_finish(session: pytest.Session) -> None:
    """Calls ``start_early(items)`` of every test module that defines it with its selected
    tests, once collection is done: a module can start a long subprocess its tests wait for
    (the README's quick start trains for minutes on one core) so that it runs beside the rest
    of the suite instead of after it."""
    if session.config.option.collectonly:
        return
    selected: dict = {}
    for item in session.items:
        if isinstance(item, pytest.Function):
            selected.setdefault(item.module, []).append(item)
    for module, items in selected.items():
        if hasattr(module, "start_early"):
            module.start_early(items)
            _STARTED_EARLY.append(module)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for module in _STARTED_EARLY:
        module.stop_early()


@pytest.fixture(scope="session")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of a ``ray start --head`` node on loopback, shared by in-process and CLI tests."""
    port = free_port()
    log = tmp_path_factory.mktemp("ray-head") / "ray-start.log"
    # A temp dir of its own keeps the node out of /tmp/ray, whose ray_current_cluster file
    # makes every address-less ray.init() on the machine join the last `ray start` node.
    # (Short path: Ray's socket paths must fit in 107 characters.)
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    head = ["--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false"]
    try:
        with ray_node([*head, "--temp-dir", temp_dir], log):
            yield f"127.0.0.1:{port}"
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_session(ray_address: str) -> Iterator[str]:
    """This process connected to Ray (the CLI then reuses the connection): to the shared head
    node, or to the instance an earlier test module left initialised. Yields the head's address,
    for commands run in subprocesses."""
    import ray

    if ray.is_initialized():
        yield ray_address
        return
    ray.init(address=ray_address, log_to_driver=False)
    try:
        yield ray_address
    finally:
        ray.shutdown()
