from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.env.env_runner import NUM_ENV_STEP_FAILURES_LIFETIME
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.utils.metrics import EPISODE_LEN_MEAN, NUM_ENV_STEPS_SAMPLED, NUM_EPISODES
from ray.tune.registry import register_env
from toy_task import fail_once_env, make_toy_env

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


@pytest.fixture
def failing_config(toy_config, tmp_path) -> Callable[..., MAAALConfig]:
    """The toy config whose env raises in its ``fail_at``-th vector step, once."""
    register_env("maaal-toy-fail-once", fail_once_env)
    flag = str(tmp_path / "failed")

    def failing(fail_at: int, restart: bool = True) -> MAAALConfig:
        env_config = {"fail_at": fail_at, "flag": flag, "fail": "raise"}
        return (
            toy_config.copy(copy_frozen=False)
            .environment("maaal-toy-fail-once", env_config=env_config)
            .fault_tolerance(restart_failed_sub_environments=restart)
        )

    return failing


def decoded(runner: TeamEnvRunner, chunk: EpisodeChunk) -> dict[str, np.ndarray]:
    one = {key: value[None] for key, value in chunk.steps.items()}
    constant = {key: value[None] for key, value in chunk.constant.items()}
    obs = runner.observation_codec.decode(one, constant, np.ones((1, len(chunk) + 1), bool))
    return {key: value[0] for key, value in obs.items()}


def assert_same_chunks(got: list[EpisodeChunk], want: list[EpisodeChunk]) -> None:
    assert [(len(c), c.is_done) for c in got] == [(len(c), c.is_done) for c in want]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a.action, b.action)
        np.testing.assert_array_equal(a.reward, b.reward)
        for key, value in b.steps.items():
            np.testing.assert_array_equal(a.steps[key], value, err_msg=key)


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
    assert all(chunk.subtask_reward is None for chunk in whole)  # recorded for shaping only
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


# The toy episodes sampled greedily run 12 steps in all 3 slots together (truncated); a slot's
# next episode starts with the reset step after it. Samples of 15 env steps are 5 vector steps.
def test_a_failed_env_is_rebuilt_and_its_running_episodes_dropped(toy_config, failing_config):
    runner = TeamEnvRunner(config=failing_config(fail_at=8))
    env, replay = runner.env, EpisodeReplay(16, codec=runner.observation_codec)
    before = runner.sample(num_timesteps=15, explore=False)  # 5 steps of each episode
    replay.add(before)
    after = runner.sample(num_timesteps=15, explore=False)  # the env fails in its 3rd step
    assert runner.env is not env
    # The episodes it cut are marked dropped (without steps): the replay forgets their parts.
    dropped = [c for c in after if c.is_dropped]
    assert [c.id_ for c in dropped] == [c.id_ for c in before] and not any(map(len, dropped))
    assert replay.add(after) == []
    assert set(replay._open) == {c.id_ for c in after if not c.is_dropped}
    metrics = runner.get_metrics()
    assert metrics[NUM_ENV_STEP_FAILURES_LIFETIME] == 1
    assert metrics[NUM_ENV_STEPS_SAMPLED] == 30 and metrics[NUM_EPISODES] == 0
    # The rebuilt env starts again from the seed, as a new runner's does, and sampling goes on:
    # the episodes begun after the failure complete whole.
    fresh = TeamEnvRunner(config=toy_config)
    theirs = EpisodeReplay(16, codec=fresh.observation_codec)
    theirs.add(fresh.sample(num_timesteps=15, explore=False))
    want = theirs.add(fresh.sample(num_timesteps=21, explore=False))
    got = replay.add(runner.sample(num_timesteps=21, explore=False))
    assert [e["length"] for e in got] == [12] * 3 and not replay._open
    for a, b in zip(got, want, strict=True):
        for key in ("allocation", "action", "reward"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        for key, value in b["obs"].items():
            np.testing.assert_array_equal(a["obs"][key], value, err_msg=key)


def test_episodes_done_before_an_env_failure_are_kept_and_counted(toy_config, failing_config):
    runner = TeamEnvRunner(config=failing_config(fail_at=15))
    reference = TeamEnvRunner(config=toy_config)
    for _ in range(2):
        runner.sample(num_timesteps=15, explore=False)
        reference.sample(num_timesteps=15, explore=False)
    runner.get_metrics()
    # Vector steps 11-12 end the episodes, 13 resets the slots, 14 starts the next episodes and
    # 15 fails: the ended episodes stay, the next ones are lost (unsent, so nothing to mark).
    got = runner.sample(num_timesteps=15, explore=False)
    done = [c for c in got if c.is_done]
    assert_same_chunks(
        done, [c for c in reference.sample(num_timesteps=15, explore=False) if c.is_done]
    )
    # The call still returns its 15 steps: the rebuilt env's first 3 vector steps.
    running = TeamEnvRunner(config=toy_config).sample(num_timesteps=9, explore=False)
    assert_same_chunks([c for c in got if not c.is_done], running)
    metrics = runner.get_metrics()
    assert metrics[NUM_ENV_STEPS_SAMPLED] == sum(map(len, got)) == 15
    assert metrics[NUM_EPISODES] == 3 and metrics[EPISODE_LEN_MEAN] == 12


def test_a_failed_env_step_without_restarts_names_the_error(failing_config):
    runner = TeamEnvRunner(config=failing_config(fail_at=2, restart=False))
    with pytest.raises(
        RuntimeError, match="the toy engine crashed.*restart_failed_sub_environments"
    ):
        runner.sample(num_timesteps=15, explore=False)


def test_records_the_subtask_rewards_for_reward_shaping(toy_config):
    shaped = toy_config.copy(copy_frozen=False).training(subtask_reward_weight=1.0)
    runner = TeamEnvRunner(config=shaped)
    replay = EpisodeReplay(16, codec=runner.observation_codec, subtask_reward=True)
    joined = []
    while len(joined) < 6:  # episodes that ran across sample() calls are joined with theirs
        joined += replay.add(runner.sample(num_timesteps=7, explore=True))
    for episode in joined:
        assert episode["subtask_reward"].shape == (episode["length"], 4)
        # The toy's reward is its per-subtask rewards' sum minus 0.5.
        np.testing.assert_allclose(episode["subtask_reward"].sum(-1) - 0.5, episode["reward"])
    runner.stop()
