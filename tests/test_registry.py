from __future__ import annotations

import subprocess
import sys

#: Run in a fresh interpreter: the test session itself keeps one Ray connection throughout.
SCRIPT = """
import ray
from ray.tune.registry import ENV_CREATOR, TRAINABLE_CLASS, _global_registry
from rllib_maaal.envs import TASKS
from rllib_maaal.registry import ALGORITHMS
for _ in range(2):
    ray.init(address="local", num_cpus=1, include_dashboard=False)
    assert all(_global_registry.contains(ENV_CREATOR, name) for name in TASKS)
    assert all(_global_registry.contains(TRAINABLE_CLASS, name) for name in ALGORITHMS)
    ray.shutdown()
"""


def test_names_survive_a_second_ray_instance_in_one_process():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
