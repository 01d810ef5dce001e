"""The team view of PettingZoo envs (``maaal/pettingzoo``), and QMIX/VDN learning through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from coordination_game import CoordinationGame
from gymnasium import spaces
from pettingzoo.test import parallel_api_test

from rllib_maaal.envs import check_env_config, env_creator
from rllib_maaal.envs.pettingzoo_team import PettingZooCore
from rllib_maaal.envs.team import OBS_KEYS

GAME = "coordination_game"
TUNED = Path(__file__).resolve().parents[2] / "tuned_configs"


def team(num_envs: int | None = None, **kwargs):
    config = {"env": GAME, "kwargs": kwargs, "seed": 0}
    if num_envs is not None:
        config["num_envs"] = num_envs
    return env_creator("maaal/pettingzoo")(config)


def first_valid(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The team action taking each agent's first available action."""
    return {
        "allocation": np.zeros_like(obs["allocation"]),
        "action": obs["action_mask"].argmax(-1),
    }


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"mask": "obs", "n_agents": 2}, {"mask": "info", "leave_after": 2, "time_limit": True}],
)
def test_the_game_is_a_valid_parallel_env(kwargs):
    parallel_api_test(CoordinationGame(**kwargs), num_cycles=20)


@pytest.mark.parametrize("num_envs", [None, 3])
@pytest.mark.parametrize(
    "kwargs", [{}, {"mask": "obs", "n_agents": 2}, {"leave_after": 2, "state": False}]
)
def test_observations_lie_in_the_declared_spaces(num_envs, kwargs):
    env = team(num_envs, **kwargs)
    single, action_space = check_env_config(
        "maaal/pettingzoo", {"env": GAME, "kwargs": kwargs, "num_envs": num_envs or 1}
    )
    batched = num_envs is not None
    assert set(OBS_KEYS) <= set(single.spaces)
    assert single == (env.single_observation_space if batched else env.observation_space)
    assert action_space == (env.single_action_space if batched else env.action_space)
    obs, _ = env.reset(seed=1)
    for _ in range(12):  # past the horizon: episodes end and restart
        assert env.observation_space.contains(obs)
        obs, reward, terminated, truncated, _ = env.step(first_valid(obs))
        assert np.shape(reward) == ((num_envs,) if batched else ())
        if not batched and (terminated or truncated):
            obs, _ = env.reset()
    n = 2 if kwargs.get("n_agents") == 2 else 3
    horizon = 5
    # obs: the step one-hot plus the agent index; state: the env's, or the observations' concat
    assert single["obs"].shape == (n, horizon + 1 + n)
    state_dim = horizon + 2 if kwargs.get("state", True) else n * (horizon + 1)
    assert single["state"].shape == (state_dim,)
    assert single["subtask_status"].shape[0] == 1 and single["allocation"].shape == (n,)


def test_the_state_falls_back_to_the_concatenated_observations():
    env = team(leave_after=1, state=False)
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs["state"], obs["obs"][:, :6].ravel())
    obs, *_ = env.step(first_valid(obs))
    np.testing.assert_array_equal(obs["state"], obs["obs"][:, :6].ravel())


def test_an_agent_that_finishes_early_is_masked_out():
    env = team(leave_after=2, time_limit=True)
    obs, _ = env.reset()
    assert obs["decide"][0] == 1 and obs["agent_mask"].tolist() == [1, 1, 1]
    for _ in range(2):
        obs, reward, terminated, truncated, _ = env.step({**first_valid(obs), "action": [0, 1, 2]})
        assert reward == pytest.approx(1.0) and not (terminated or truncated)
    assert obs["decide"][0] == 0
    assert obs["agent_mask"].tolist() == [1, 1, 0]
    assert not obs["obs"][2].any()  # zero observation, no agent index either
    assert obs["action_mask"][2].tolist() == [1, 0, 0]  # only the no-op: every row has one
    # The finished agent's action is ignored (even an invalid one); the reward is the live
    # agents' share only (1/3 each).
    obs, reward, terminated, truncated, _ = env.step({**first_valid(obs), "action": [0, 1, 99]})
    assert reward == pytest.approx(2 / 3)
    for _ in range(2):
        obs, reward, terminated, truncated, _ = env.step({**first_valid(obs), "action": [0, 0, 0]})
        assert reward == 0.0
    # The time limit ends the episode: truncated, and the truncated agents stay in the final
    # observation, so the learner bootstraps from their values there.
    assert truncated and not terminated
    assert obs["agent_mask"].tolist() == [1, 1, 0]
    assert obs["obs"][:2].any(-1).all()


def test_an_episode_that_terminates_leaves_no_agent_present():
    env = team()
    obs, _ = env.reset()
    for _ in range(5):
        obs, reward, terminated, truncated, _ = env.step(first_valid(obs))
    assert terminated and not truncated
    assert not obs["agent_mask"].any()


@pytest.mark.parametrize("where", ["obs", "info"])
def test_the_env_action_mask_becomes_the_team_action_mask(where):
    env = team(n_agents=2, mask=where)
    raw = CoordinationGame(n_agents=2, mask=where)
    raw.reset()
    obs, _ = env.reset()
    for _ in range(3):
        np.testing.assert_array_equal(obs["action_mask"], np.tile(raw.available(), (2, 1)))
        action = first_valid(obs)
        raw.step({agent: int(a) for agent, a in zip(raw.agents, action["action"], strict=True)})
        obs, *_ = env.step(action)
    forbidden = int(np.flatnonzero(obs["action_mask"][1] == 0)[0])
    with pytest.raises(ValueError, match=f"agent 'player_1' .* took action {forbidden}"):
        env.step({**first_valid(obs), "action": [obs["action_mask"][0].argmax(), forbidden]})


class UnevenGame(CoordinationGame):
    """player_0 has two actions, the others three."""

    def action_space(self, agent: str) -> spaces.Space:
        return spaces.Discrete(2, start=1) if agent == "player_0" else super().action_space(agent)


def test_agents_with_fewer_actions_have_the_rest_masked():
    core = PettingZooCore(UnevenGame)
    core.reset(np.ones(1, bool))
    obs = core.observe()
    assert core.single_action_space["action"].nvec.tolist() == [3, 3, 3]
    assert obs["action_mask"][0].tolist() == [[1, 1, 0], [1, 1, 1], [1, 1, 1]]
    # Team action 1 of player_0 is its Discrete(2, start=1) action 2.
    played = []
    core.envs[0].step = lambda joint: (
        played.append(joint) or CoordinationGame.step(core.envs[0], joint)
    )
    core.step({"action": np.array([[1, 0, 2]])}, np.ones(1, bool))
    assert played == [{"player_0": 2, "player_1": 0, "player_2": 2}]


def test_a_continuous_action_env_is_refused_in_one_line():
    with pytest.raises(ValueError) as error:
        check_env_config("maaal/pettingzoo", {"env": GAME, "kwargs": {"continuous": True}})
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("maaal/pettingzoo supports Discrete action spaces only; agent")


@pytest.mark.parametrize("spec", ["coordination_game:parallel_env", "coordination_game:env", GAME])
def test_env_given_by_module_callable_or_aec(spec):
    obs_space, action_space = check_env_config("maaal/pettingzoo", {"env": spec})
    assert obs_space["obs"].shape == (3, 9) and action_space["action"].nvec.tolist() == [3, 3, 3]


def test_env_given_by_a_tune_registered_name():
    from ray.tune.registry import register_env

    register_env("coordination-tune", lambda config: CoordinationGame(**config))
    _, action_space = check_env_config(
        "maaal/pettingzoo", {"env": "coordination-tune", "kwargs": {"n_agents": 2}}
    )
    assert action_space["action"].nvec.tolist() == [3, 3]


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({}, ValueError, "pettingzoo env_config needs 'env'"),
        ({"env": GAME, "kwrgs": {}}, ValueError, "kwrgs"),
        ({"env": GAME, "kwargs": [1]}, ValueError, "kwargs must be a mapping"),
        ({"env": GAME, "agent_id": "yes"}, ValueError, "agent_id must be true or false"),
        ({"env": "no_such_module_xyz"}, ImportError, "cannot be imported"),
        ({"env": f"{GAME}:missing"}, ValueError, "has no callable missing"),
        ({"env": "numpy"}, ValueError, "neither parallel_env\\(\\) nor env\\(\\)"),
    ],
)
def test_bad_env_configs_name_the_problem(config, error, message):
    with pytest.raises(error, match=message):
        check_env_config("maaal/pettingzoo", config)


#: The MPE tasks with a tuned config: env_config, obs/state shapes, each agent's own action count.
MPE_TASKS = {
    "mpe_simple_spread_qmix.yaml": (
        {"env": "mpe2.simple_spread_v3", "kwargs": {"N": 3}},
        (3, 18 + 3),
        (54,),
        [5, 5, 5],
    ),
    # Heterogeneous agents: the speaker (3 observations, 3 actions) is padded to the listener's
    # 11 observations and 5 actions.
    "mpe_simple_speaker_listener_qmix.yaml": (
        {"env": "mpe2.simple_speaker_listener_v4", "kwargs": {}},
        (2, 11 + 2),
        (14,),
        [3, 5],
    ),
}


@pytest.mark.parametrize("tuned", sorted(MPE_TASKS))
def test_mpe_team_views(tuned):
    pytest.importorskip("mpe2")
    env_config, obs_shape, state_shape, own_actions = MPE_TASKS[tuned]
    kwargs = {**env_config["kwargs"], "max_cycles": 25, "continuous_actions": False}
    config = {**env_config, "kwargs": kwargs, "seed": 0}
    obs_space, action_space = check_env_config("maaal/pettingzoo", config)
    assert obs_space["obs"].shape == obs_shape and obs_space["state"].shape == state_shape
    assert action_space["action"].nvec.tolist() == [max(own_actions)] * len(own_actions)
    env = env_creator("maaal/pettingzoo")({**config, "num_envs": 2})
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    for step in range(25):
        assert env.observation_space.contains(obs)
        assert obs["action_mask"].sum(-1).tolist() == [own_actions] * 2
        assert obs["agent_mask"].all()
        scores = rng.random(obs["action_mask"].shape) * obs["action_mask"]
        action = {"allocation": obs["allocation"], "action": scores.argmax(-1)}
        obs, reward, terminated, truncated, _ = env.step(action)
        assert np.isfinite(reward).all() and (reward <= 0).all()  # MPE's costs
        assert truncated.all() == (step == 24) and not terminated.any()


@pytest.mark.parametrize("tuned", sorted(MPE_TASKS))
def test_the_mpe_tuned_configs_validate_before_ray(tuned):
    pytest.importorskip("mpe2")
    from rllib_maaal.experiment import build_experiments, load_file, validate_search_space

    for experiment in build_experiments(load_file(TUNED / tuned)):
        (config,) = validate_search_space(experiment)
        assert config.allocation == "none" and config.mixer == "qmix"
        assert config.env_config["env"] == MPE_TASKS[tuned][0]["env"]


# -- learning ---------------------------------------------------------------------------------
def greedy_return(algo, episodes: int = 8) -> float:
    done = algo.env_runner.sample(num_episodes=episodes, explore=False)
    return float(np.mean([episode.get_return() for episode in done]))


@pytest.mark.parametrize("run", ["QMIX", "VDN"])
def test_qmix_and_vdn_learn_the_coordination_game(ray_session, run):
    # Optimal return 5 (every step the three agents split the three actions); uniform play
    # scores 5 · 2/9 ≈ 1.1 and the untrained greedy policy 0. With these settings
    # (150 iterations, 4,800 env steps, about 6 s) the learned greedy return was 5.0 for
    # seeds 0, 1 and 2, for QMIX and for VDN alike (untrained: 0.0 for all six).
    from rllib_maaal.registry import algorithm_class

    config = (
        algorithm_class(run)
        .get_default_config()
        .environment("maaal/pettingzoo", env_config={"env": GAME, "seed": 0})
        .env_runners(num_env_runners=0, num_envs_per_env_runner=8, rollout_fragment_length=4)
        .training(
            num_episodes_before_learning_starts=16,
            episodes_per_update=16,
            updates_per_iteration=4,
            target_network_update_freq=20,
            epsilon_action=[[0, 1.0], [2000, 0.05]],
        )
        .debugging(seed=0)
    )
    algo = config.build_algo()
    assert greedy_return(algo) < 2.0
    for _ in range(150):
        algo.train()
    assert greedy_return(algo) >= 4.5
    algo.stop()


def test_maaal_runs_unchanged_on_the_one_subtask_view(ray_session):
    from ray.rllib.core import DEFAULT_MODULE_ID

    from rllib_maaal.algorithms.maaal import MAAALConfig

    config = (
        MAAALConfig()
        .environment("maaal/pettingzoo", env_config={"env": GAME})
        .env_runners(num_env_runners=0, num_envs_per_env_runner=4, rollout_fragment_length=5)
        .training(num_episodes_before_learning_starts=4, episodes_per_update=4)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    for _ in range(3):
        result = algo.train()
    assert {"l1_loss", "l2_loss"} <= set(result["learners"][DEFAULT_MODULE_ID])
    algo.stop()
