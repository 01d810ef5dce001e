"""A multi-node Ray cluster on this machine: a head and two worker nodes on loopback, each a
``ray start`` of its own, and MAAAL trained there with ``rllib train --address``.

The workers carry a custom resource, ``rollout_node``, that only EnvRunners request
(``custom_resources_per_env_runner``): the results' ``placement`` must then show each EnvRunner on
a worker node and the algorithm with its local learner on the head. Marked ``cluster`` (about a
minute; not part of the default run): ``pytest -m cluster``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ray_nodes import free_port, ray_node

pytestmark = pytest.mark.cluster

WORKERS = 2

#: Which node is which, asked of the cluster by a client of its own (this test process keeps
#: out of Ray, so that the cluster's teardown leaves nothing connected).
NODES_SCRIPT = """
import json, sys, ray
ray.init(address=sys.argv[1], log_to_driver=False)
print(json.dumps({n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}))
"""


def _node_args(temp_dir: str) -> list[str]:
    """What every node of the cluster needs on one machine: loopback, and ports of its own
    (the dashboard agent's default port would collide)."""
    return [
        "--node-ip-address", "127.0.0.1",
        "--dashboard-agent-listen-port", str(free_port()),
        "--temp-dir", temp_dir,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, dict]]]:
    """The head's address and every node's resources by node id; torn down after the module."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("ray-cluster")
    # Short path: Ray's socket paths must fit in 107 characters.
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    head = ["--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard", "false"]
    worker = ["--address", address, "--num-cpus", "1", "--resources", '{"rollout_node": 1}']
    try:
        with contextlib.ExitStack() as nodes:
            nodes.enter_context(ray_node([*head, *_node_args(temp_dir)], logs / "head.log"))
            for i in range(WORKERS):
                log = logs / f"worker{i}.log"
                nodes.enter_context(ray_node([*worker, *_node_args(temp_dir)], log))
            listed = subprocess.run(
                [sys.executable, "-c", NODES_SCRIPT, address],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            yield address, json.loads(listed.stdout.splitlines()[-1])
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_env_runners_sample_on_the_worker_nodes_and_the_learner_stays_on_the_head(
    cluster, tmp_path
):
    address, nodes = cluster
    workers = {node for node, resources in nodes.items() if "rollout_node" in resources}
    (head,) = set(nodes) - workers
    assert len(workers) == WORKERS
    experiment = {
        "maaal-on-a-cluster": {
            "run": "MAAAL",
            "env": "maaal/city",
            "stop": {"training_iteration": 3},
            "config": {
                "env_config": {"scenario": "2-5a_2-5b"},
                "num_env_runners": WORKERS,
                "num_cpus_per_env_runner": 1,
                "custom_resources_per_env_runner": {"rollout_node": 1},
                "num_envs_per_env_runner": 2,
                "rollout_fragment_length": 50,
                "num_episodes_before_learning_starts": 2,
                "episodes_per_update": 2,
            },
        }
    }
    file = tmp_path / "cluster.yaml"
    file.write_text(yaml.safe_dump(experiment))
    run = subprocess.run(
        [sys.executable, "-m", "rllib_maaal", "train", "--file", str(file)]
        + ["--address", address, "--storage-path", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"joined the Ray cluster at {address}: 3 CPUs, 0 GPUs, 3 node(s)" in run.stdout
    (results,) = Path(tmp_path, "maaal-on-a-cluster").glob("*/result.json")
    last = json.loads(results.read_text().splitlines()[-1])
    assert last["training_iteration"] == 3
    assert last["learners"]["default_policy"]["num_module_steps_trained"] > 0  # it learned
    placement = last["placement"]
    assert set(placement["env_runner_nodes"]) == workers  # one EnvRunner on each worker
    assert placement["algorithm_node"] == head
    assert placement["learner_nodes"] == [head]
