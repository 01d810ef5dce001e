from __future__ import annotations

import ray
from ray.tune.registry import ENV_CREATOR, TRAINABLE_CLASS, _global_registry

from rllib_maaal.envs import TASKS
from rllib_maaal.registry import ALGORITHMS


def test_names_survive_a_second_ray_instance_in_one_process():
    for _ in range(2):
        ray.init(address="local", num_cpus=1, include_dashboard=False)
        try:
            assert all(_global_registry.contains(ENV_CREATOR, name) for name in TASKS)
            assert all(_global_registry.contains(TRAINABLE_CLASS, name) for name in ALGORITHMS)
        finally:
            ray.shutdown()
