"""Ray nodes started with ``ray start`` for the tests (a module of its own name, so that tests
import it whatever else pytest has loaded): the shared head of conftest.py and the multi-node
cluster of test_cluster.py."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def ray_node(args: Sequence[str], log: Path, timeout_s: float = 90) -> Iterator[None]:
    """A ``ray start --block ARGS`` node, from its start until the block exits.

    The node is stopped through its own process group: ``ray stop`` would stop every Ray
    instance on the machine, including ones this test run did not start. Token authentication
    is off so that clients connecting by address need no token file.
    """
    with log.open("w") as out:
        node = subprocess.Popen(
            [RAY, "start", "--block", "--disable-usage-stats", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )
    try:
        deadline = time.monotonic() + timeout_s
        while "Ray runtime started" not in log.read_text():
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start {' '.join(args)} failed:\n{log.read_text()}")
            time.sleep(0.5)
        yield
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()
