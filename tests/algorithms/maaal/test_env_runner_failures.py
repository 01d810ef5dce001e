"""An EnvRunner that dies mid-run (``restart_failed_env_runners``, RLlib's default): the
iteration it dies in still samples as much as a healthy one, from the restarted runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray.cloudpickle
import toy_task
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
)
from ray.tune.registry import register_env

from rllib_maaal.algorithms.maaal import MAAALConfig

#: Env steps of one sample of a runner: 8 envs x a rollout fragment of 12 steps.
ROUND = 8 * 12


@pytest.fixture(scope="module")
def remote_runners(ray_session):
    # Runner processes do not have the tests on their path: ship the toy task by value.
    ray.cloudpickle.register_pickle_by_value(toy_task)
    register_env("maaal-toy-crash-once", toy_task.fail_once_env)
    yield
    ray.cloudpickle.unregister_pickle_by_value(toy_task)


def test_an_iteration_whose_runner_died_samples_a_full_round(remote_runners, tmp_path: Path):
    iterations, flag = 4, str(tmp_path / "crashed")
    config = (
        MAAALConfig()
        .environment(
            "maaal-toy-crash-once", env_config={"fail_at": 2 * 12 + 5, "flag": flag, "fail": "exit"}
        )
        .env_runners(num_env_runners=1, num_envs_per_env_runner=8, rollout_fragment_length=12)
        .fault_tolerance(delay_between_env_runner_restarts_s=0)
        .training(num_episodes_before_learning_starts=8, episodes_per_update=8)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        sampled = []
        for _ in range(iterations):  # a stop criterion of 4 training iterations
            result = algo.train()
            sampled.append(result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED])
        lifetime = result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]
    finally:
        algo.stop()
    assert Path(flag).is_file()  # the runner did die, in the third iteration
    assert sampled == [ROUND] * iterations
    assert lifetime == iterations * ROUND
