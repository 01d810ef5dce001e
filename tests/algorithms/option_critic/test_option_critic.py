from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from option_critic_helpers import LABELS
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns

from rllib_maaal.algorithms.option_critic import OptionCritic, OptionCriticConfig
from rllib_maaal.envs.intern import InternConfig, evaluate
from rllib_maaal.envs.intern.policies import fixed_policy
from rllib_maaal.experiment import load_file

TUNED = Path(__file__).parents[3] / "tuned_configs" / "intern_option_critic.yaml"
#: The message record features of the intern observation (see the tuned experiment file).
RECORD = ["last_message", "response_0", "response_1", "evidence_0", "evidence_1"]
#: A cohort small enough to learn in a CI run: 4 teams of 2 interns, 4 weeks.
TINY = {"n_teams": 4, "team_size": 2, "n_weeks": 4}


@pytest.fixture(scope="module")
def ray_local(ray_session):
    # The session's one Ray connection (conftest.ray_session), see tests/algorithms/maaal.
    torch.set_num_threads(1)


def intern_config(env_config: dict, **training) -> OptionCriticConfig:
    horizon = 7 * env_config.get("n_weeks", 26)
    return (
        OptionCriticConfig()
        .environment("maaal/intern", env_config=env_config)
        .env_runners(num_env_runners=0, num_envs_per_env_runner=16, rollout_fragment_length=horizon)
        .training(**{"drop_obs_features": LABELS, "critic_drop_obs_features": RECORD, **training})
    )


def greedy_average_reward(algo: OptionCritic, episodes: int = 32) -> float:
    """Average reward per intern-day of the exploration-free policy (greedy options)."""
    done = algo.env_runner.sample(num_episodes=episodes, explore=False)
    return float(np.mean([ep.get_infos(-1)["avg_reward_per_intern_day"] for ep in done]))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("td_loss", "l1", "td_loss must be one of mse, huber; got 'l1'"),
        ("temperature", 0.0, "temperature must be a positive number; got 0.0"),
        ("reward_scale", -1.0, "reward_scale must be a positive number"),
        ("entropy_coeff", -0.1, "entropy_coeff must be a non-negative number"),
        ("drop_obs_features", [8, -1], "drop_obs_features must be a list of intern observation"),
        (
            "critic_drop_obs_features",
            ["team", "lastmessage"],
            "critic_drop_obs_features: intern observation feature must be one of wellbeing, "
            "last_message, ",
        ),
        ("critic_drop_obs_features", "1", "critic_drop_obs_features must be a list"),
        ("epsilon_option", [[10, 1.0], [0, 0.1]], "epsilon_option: steps must be non-empty and"),
        ("greedy_messages", "yes", "greedy_messages must be True or False; got 'yes'"),
        ("replay_capacity", 0, "OptionCriticConfig.replay_capacity must be a positive int"),
        ("tau", 1.5, "OptionCriticConfig.tau must be a number in \\(0, 1\\]"),
    ],
)
def test_config_names_the_bad_field(field, value, message):
    config = OptionCriticConfig().environment("maaal/intern").training(**{field: value})
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        config.validate()


def test_unknown_model_config_key_suggests_the_nearest():
    config = OptionCriticConfig().environment("maaal/intern").rl_module(model_config={"hiden": 8})
    with pytest.raises(
        ValueError, match="unknown model_config key 'hiden' \\(did you mean 'hidden'"
    ):
        config.validate()


def test_tuned_experiment_file_is_a_valid_config():
    (spec,) = load_file(TUNED).values()
    assert spec["run"] == "OptionCritic" and spec["env"] == "maaal/intern"
    config = OptionCriticConfig().update_from_dict(spec["config"]).environment(spec["env"])
    config.validate()
    assert config.gamma == 0.9 and config.model_config["hidden"] == 64
    assert config.drop_obs_features == ["team", "opponent"]
    assert config.critic_drop_obs_features == RECORD
    # The module gets the columns the names stand for (ints are taken as columns already).
    assert config.model_config["drop_obs_features"] == LABELS == [8, 9]
    assert config.model_config["critic_drop_obs_features"] == [1, 11, 12, 13, 14]


def test_learns_a_small_cohort_and_restores_to_identical_choices(ray_local, tmp_path):
    algo = intern_config(TINY, epsilon_option=[[0, 1.0], [15_000, 0.1]]).debugging(seed=0)
    algo = algo.build_algo()
    untrained = greedy_average_reward(algo)
    for _ in range(25):
        result = algo.train()
    trained = greedy_average_reward(algo)
    # Measured (seeds 0, 1): untrained greedy −330 / −352 (random-looking messages, sitting out),
    # trained −250 / −259 after 25 iterations (11k env steps): 80 to 93 better per intern-day.
    assert trained > untrained + 50.0, (untrained, trained)
    stats = result["learners"][DEFAULT_MODULE_ID]
    assert {"critic_loss", "policy_loss", "entropy"} <= set(stats)
    assert 0.0 <= result["options"]["sit_out_rate"] <= 1.0

    path = algo.save_to_path(str(tmp_path / "ckpt"))
    restored = OptionCritic.from_checkpoint(path)
    obs = algo.env_runner.env.observation_space.sample()
    batch = {Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()}}
    batch[Columns.OBS]["decide"][:] = 1.0
    original, again = algo.get_module(), restored.get_module()
    for name in ("pair_values", "action_logits"):
        args = (batch[Columns.OBS],) + (
            (batch[Columns.OBS]["allocation"],) * (name != "pair_values")
        )
        assert torch.equal(getattr(original, name)(*args), getattr(again, name)(*args))
    algo.stop()
    restored.stop()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cuts_the_fixed_baselines_cost_by_45_percent_on_the_default_cohort(ray_local, seed):
    """The paper's result relative to its baseline: ≥ 45 % less cost than always sending message
    0 with random pairings (−258.65 in our simulator → ≤ −142), with the tuned experiment."""
    (spec,) = load_file(TUNED).values()
    config = OptionCriticConfig().update_from_dict({**spec["config"], "seed": seed})
    algo = config.environment(spec["env"]).build_algo()
    for _ in range(spec["stop"]["training_iteration"]):
        algo.train()
    learned = greedy_average_reward(algo, episodes=64)
    fixed = evaluate(fixed_policy, InternConfig(), episodes=256)["avg_reward_per_intern_day"]
    algo.stop()
    assert learned <= 0.55 * fixed, (learned, fixed)
