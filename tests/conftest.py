"""Shared fixtures: one Ray head node for the whole test session."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# Algorithms built in this process (num_env_runners: 0, local learner) compute here: one torch
# thread makes their numbers independent of the machine's core count (float sums depend on the
# thread count) and avoids two threads fighting Ray's processes for two cores (3-5x slower).
torch.set_num_threads(1)

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of a ``ray start --head`` node on loopback, shared by in-process and CLI tests.

    The node is stopped through its own process group: ``ray stop`` would stop every Ray
    instance on the machine, including ones this session did not start. Token authentication
    is off so that clients connecting by address need no token file.
    """
    port = _free_port()
    log = tmp_path_factory.mktemp("ray-head") / "ray-start.log"
    # A temp dir of its own keeps the node out of /tmp/ray, whose ray_current_cluster file
    # makes every address-less ray.init() on the machine join the last `ray start` node.
    # (Short path: Ray's socket paths must fit in 107 characters.)
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    with log.open("w") as out:
        head = subprocess.Popen(
            [RAY, "start", "--head", "--block", "--port", str(port), "--num-cpus", "2"]
            + ["--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp_dir],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )
    deadline = time.monotonic() + 90
    while "Ray runtime started" not in log.read_text():
        if head.poll() is not None or time.monotonic() > deadline:
            os.killpg(head.pid, signal.SIGKILL)
            pytest.fail("ray start --head failed:\n" + log.read_text())
        time.sleep(0.5)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
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
