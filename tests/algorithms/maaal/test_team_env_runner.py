from __future__ import annotations

import numpy as np
import pytest
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.tune.registry import register_env
from toy_task import make_toy_env

from rllib_maaal.algorithms.episodic.episode_replay import EpisodeChunk, EpisodeReplay
from rllib_maaal.algorithms.episodic.team_env_runner import TeamEnvRunner
from rllib_maaal.algorithms.maaal import MAAALConfig


@pytest.fixture(scope="module")
def toy_config(ray_session) -> MAAALConfig:
    register_env("maaal-toy", make_toy_env)
    return (
        MAAALConfig()
        .environment("maaal-toy")
        .env_runners(num_env_runners=0, num_envs_per_env_runner=3)
        .debugging(seed=0)
    )


def decoded(runner: TeamEnvRunner, chunk: EpisodeChunk) -> dict[str, np.ndarray]:
    one = {key: value[None] for key, value in chunk.steps.items()}
    constant = {key: value[None] for key, value in chunk.constant.items()}
    obs = runner.observation_codec.decode(one, constant, np.ones((1, len(chunk) + 1), bool))
    return {key: value[0] for key, value in obs.items()}


def test_samples_the_episodes_rllibs_runner_samples(toy_config):
    team = TeamEnvRunner(config=toy_config)
    rllib = SingleAgentEnvRunner(config=toy_config)
    rllib.set_state(team.get_state())
    ours = team.sample(num_episodes=5, explore=False)
    theirs = rllib.sample(num_episodes=5, explore=False)
    assert len(ours) == len(theirs) == 5
    for chunk, episode in zip(ours, theirs, strict=True):
        assert chunk.is_done and len(chunk) == len(episode)
        assert chunk.is_terminated == episode.is_terminated
        assert chunk.get_return() == pytest.approx(episode.get_return())
        np.testing.assert_array_equal(chunk.reward, episode.get_rewards())
        for key in ("allocation", "action"):
            np.testing.assert_array_equal(getattr(chunk, key), episode.get_actions()[key])
        want = episode.get_observations()
        for key, value in decoded(team, chunk).items():  # rule_* are not stored: MAAAL learns
            np.testing.assert_array_equal(value, want[key], err_msg=key)
            assert value.dtype == want[key].dtype
    metrics = team.get_metrics()
    assert float(metrics["num_episodes"]) == 5
    assert float(metrics["episode_return_mean"]) == pytest.approx(
        np.mean([e.get_return() for e in ours])
    )
    team.stop()
    rllib.stop()


def test_chunks_join_into_the_episodes_sampled_whole(toy_config):
    whole = TeamEnvRunner(config=toy_config).sample(num_episodes=6, explore=False)
    runner = TeamEnvRunner(config=toy_config)
    replay = EpisodeReplay(16, codec=runner.observation_codec)
    joined, chunks = [], 0
    while len(joined) < 6:
        sampled = runner.sample(num_timesteps=7, explore=False)  # 3 steps of 3 slots a call
        chunks += sum(not c.is_done for c in sampled)
        joined += replay.add(sampled)
    assert chunks > 6  # the episodes (12 steps or fewer) did run across calls
    for want, got in zip(whole, joined, strict=False):
        assert got["length"] == len(want) and got["terminated"] == want.is_terminated
        np.testing.assert_array_equal(got["reward"], want.reward)
        np.testing.assert_array_equal(got["allocation"], want.allocation)
        for key, value in want.steps.items():
            np.testing.assert_array_equal(got["obs"][key], value, err_msg=key)
    lengths = float(runner.get_metrics()["episode_len_mean"])
    assert lengths == pytest.approx(np.mean([e["length"] for e in joined]))


def test_refuses_callbacks_it_never_calls(toy_config):
    class PerStep(RLlibCallback):
        def on_episode_step(self, **kwargs):
            pass

    config = toy_config.copy(copy_frozen=False).callbacks(PerStep)
    with pytest.raises(ValueError, match="TeamEnvRunner does not call on_episode_step \\(PerStep"):
        TeamEnvRunner(config=config)


def test_training_and_evaluation_report_rllibs_env_runner_metrics(toy_config):
    config = toy_config.copy(copy_frozen=False).evaluation(
        evaluation_interval=1, evaluation_duration=3, evaluation_config={"explore": False}
    )
    algo = config.env_runners(rollout_fragment_length=12).build_algo()
    result = algo.train()
    algo.stop()
    keys = {
        "episode_return_mean",
        "episode_return_min",
        "episode_return_max",
        "episode_len_mean",
        "episode_duration_sec_mean",
        "num_episodes",
        "num_episodes_lifetime",
        "num_env_steps_sampled",
        "num_env_steps_sampled_lifetime",
        "module_episode_return_mean",
        "sample",
    }
    assert keys <= set(result["env_runners"])
    assert result["env_runners"]["num_env_steps_sampled"] == 36
    assert result["evaluation"]["env_runners"]["num_episodes"] >= 3
