"""Experiment specs: YAML reading, overrides, validation and conversion to Tune objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray import tune
from ray.tune.schedulers import AsyncHyperBandScheduler
from ray.tune.search.sample import Categorical, Float, Integer

from rllib_maaal.experiment import (
    DEFAULT_METRIC,
    ExperimentError,
    apply_overrides,
    build_experiments,
    inline_spec,
    load_file,
    parse_yaml,
    to_search_space,
    tuner_parts,
)


def spec(**fields):
    return {"run": "PPO", "env": "CartPole-v1", **fields}


def test_yaml_reads_exponent_floats_without_a_dot():
    assert parse_yaml("lr: 1e-3\nn: 5\ns: e5", "x") == {"lr": 0.001, "n": 5, "s": "e5"}


def test_load_file_keeps_experiments_in_file_order(tmp_path: Path):
    path = tmp_path / "two.yaml"
    path.write_text("second: {run: PPO}\nfirst: {run: DQN}\n")
    assert list(load_file(path)) == ["second", "first"]


def test_load_file_rejects_a_non_mapping(tmp_path: Path):
    path = tmp_path / "list.yaml"
    path.write_text("- run: PPO\n")
    with pytest.raises(ExperimentError, match="expected a mapping"):
        load_file(path)


def test_overrides_reach_every_experiment_with_yaml_values():
    specs = {"a": spec(config={"lr": 0.1}), "b": spec()}
    apply_overrides(
        specs, ["config.lr=1e-4", "config.env_config.size=[2, 3]", "stop.training_iteration=3"]
    )
    for experiment in specs.values():
        assert experiment["config"]["lr"] == 1e-4
        assert experiment["config"]["env_config"] == {"size": [2, 3]}
        assert experiment["stop"] == {"training_iteration": 3}
    specs["a"]["config"]["env_config"]["size"].append(4)  # values are copies, not shared
    assert specs["b"]["config"]["env_config"]["size"] == [2, 3]


def test_inline_spec_parses_json_and_names_the_experiment():
    specs = inline_spec("PPO", "maaal/city", '{"training_iteration": 2}', '{"lr": 0.001}', None)
    assert specs == {
        "PPO_maaal_city": {
            "run": "PPO",
            "env": "maaal/city",
            "stop": {"training_iteration": 2},
            "config": {"lr": 0.001},
        }
    }
    with pytest.raises(ExperimentError, match="--config must be a JSON object"):
        inline_spec("PPO", "CartPole-v1", None, "[1]", None)


def test_build_fills_defaults_and_translates_old_stop_names(tmp_path: Path):
    (exp,) = build_experiments(
        {"e": spec(stop={"timesteps_total": 1000, DEFAULT_METRIC: 150})}, str(tmp_path), 3
    )
    assert exp.config["env"] == "CartPole-v1"
    assert exp.stop == {"num_env_steps_sampled_lifetime": 1000, DEFAULT_METRIC: 150}
    assert exp.checkpoint_config == {"checkpoint_at_end": True}
    assert exp.num_samples == 3
    assert exp.path == tmp_path / "e"


def test_config_keys_include_properties_and_rllib_aliases():
    config = {"train_batch_size_per_learner": 256, "lambda": 0.9, "env_config": {}, "lr": 1e-3}
    (exp,) = build_experiments({"e": spec(config=config)})
    assert exp.config == {**config, "env": "CartPole-v1"}


def test_config_key_check_is_per_algorithm():
    # PPO's clip_param is not a DQN setting.
    with pytest.raises(ExperimentError, match="unknown config key 'clip_param' for DQN"):
        build_experiments({"e": {**spec(config={"clip_param": 0.2}), "run": "DQN"}})


@pytest.mark.parametrize(
    ("env", "ok"),
    [("maaal/city", True), ("CartPole-v1", True), ("json:Foo", True), ("nomodule_x:Foo", False)],
)
def test_env_names(env, ok):
    if ok:
        build_experiments({"e": spec(env=env)})
    else:
        with pytest.raises(ExperimentError, match="unknown environment"):
            build_experiments({"e": spec(env=env)})


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"num_samples": 0}, "num_samples must be a positive integer"),
        ({"stop": {"training_iteration": "ten"}}, "must be a number"),
        ({"checkpoint_config": {"every": 2}}, "unknown checkpoint_config key 'every'"),
        ({"search_alg": {"metric": "x"}}, "search_alg needs a 'type'"),
        ({"config": [1, 2]}, "'config' must be a mapping"),
    ],
)
def test_bad_fields_name_the_field(field, message):
    with pytest.raises(ExperimentError, match=message):
        build_experiments({"e": spec(**field)})


def test_yaml_search_spaces_become_tune_samplers():
    space = to_search_space(
        {
            "lr": {"loguniform": [1e-5, 1e-2]},
            "gamma": {"choice": [0.9, 0.99]},
            "seed": {"randint": {"lower": 0, "upper": 10}},
            "model": {"fcnet_hiddens": {"grid_search": [[64], [128]]}},
            "fixed": 3,
        }
    )
    assert isinstance(space["lr"], Float) and space["lr"].lower == 1e-5
    assert isinstance(space["gamma"], Categorical) and space["gamma"].categories == [0.9, 0.99]
    assert isinstance(space["seed"], Integer) and space["seed"].upper == 10
    assert space["model"] == {"fcnet_hiddens": {"grid_search": [[64], [128]]}}
    assert space["fixed"] == 3


def test_bad_search_space_is_an_experiment_error():
    with pytest.raises(ExperimentError, match="bad search space"):
        to_search_space({"lr": {"uniform": [1]}})


def test_search_alg_and_scheduler_share_metric_and_mode():
    (exp,) = build_experiments(
        {
            "e": spec(
                config={"lr": {"uniform": [1e-4, 1e-3]}},
                search_alg={"type": "random"},
                scheduler={"type": "asha", "mode": "min", "grace_period": 2},
            )
        }
    )
    parts = tuner_parts(exp)
    tune_config: tune.TuneConfig = parts["tune_config"]
    assert (tune_config.metric, tune_config.mode) == (DEFAULT_METRIC, "min")
    assert isinstance(tune_config.scheduler, AsyncHyperBandScheduler)
    assert isinstance(parts["param_space"]["lr"], Float)


def test_plain_runs_leave_metric_unset_and_checkpoint_at_end():
    (exp,) = build_experiments({"e": spec()})
    parts = tuner_parts(exp)
    assert parts["tune_config"].metric is None and parts["tune_config"].search_alg is None
    assert parts["checkpoint_config"].checkpoint_at_end is True


def test_unknown_search_alg_is_an_experiment_error():
    (exp,) = build_experiments({"e": spec(search_alg={"type": "nope"})})
    with pytest.raises(ExperimentError, match="search_alg {type: nope}"):
        tuner_parts(exp)
