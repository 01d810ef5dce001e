"""Types and ranges of RLlib's common config keys, checked before Ray starts.

RLlib's own ``validate()`` checks few of them: a bad value would fail (or train silently wrong)
in a trial, after a cluster boot. :mod:`rllib_maaal.experiment` runs these checks on every grid
value and every search point.
"""

from __future__ import annotations

from typing import Any

from rllib_maaal.validation import check_bool, check_mapping, check_number

#: Bounds of RLlib's common numeric config keys, as ``check_number`` takes them.
RLLIB_NUMBERS: dict[str, dict[str, Any]] = {
    "gamma": {"low": 0, "high": 1, "low_open": True},
    "lr": {"low": 0, "low_open": True},
    "lambda": {"low": 0, "high": 1},
    "lambda_": {"low": 0, "high": 1},
    "num_env_runners": {"low": 0, "integer": True},
    "num_envs_per_env_runner": {"low": 1, "integer": True},
    "num_learners": {"low": 0, "integer": True},
    "num_gpus_per_learner": {"low": 0},
    "num_cpus_per_learner": {"low": 0, "low_open": True, "allow": ("auto",)},
    "num_cpus_per_env_runner": {"low": 0, "low_open": True},
    "num_gpus_per_env_runner": {"low": 0},
    "num_cpus_for_main_process": {"low": 0},
    "rollout_fragment_length": {"low": 1, "integer": True, "allow": ("auto",)},
    "train_batch_size_per_learner": {"low": 1, "integer": True, "allow": (None,)},
    "train_batch_size": {"low": 1, "integer": True},
    "minibatch_size": {"low": 1, "integer": True, "allow": (None,)},
    "num_epochs": {"low": 1, "integer": True},
    "grad_clip": {"low": 0, "low_open": True, "allow": (None,)},
    "seed": {"integer": True, "allow": (None,)},
    "evaluation_interval": {"low": 0, "integer": True, "allow": (None,)},
    "evaluation_num_env_runners": {"low": 0, "integer": True},
    "evaluation_duration": {"low": 1, "integer": True, "allow": ("auto",)},
    "max_requests_in_flight_per_env_runner": {"low": 1, "integer": True},
}
RLLIB_BOOLS: tuple[str, ...] = (
    "explore",
    "evaluation_parallel_to_training",
    "restart_failed_env_runners",
    "double_q",
)
RLLIB_MAPPINGS: tuple[str, ...] = ("env_config", "model_config", "evaluation_config")


def check_config_values(config: dict[str, Any]) -> None:
    """Types and ranges of the config keys in :data:`RLLIB_NUMBERS` and friends."""
    for key, value in config.items():
        if key in RLLIB_NUMBERS:
            if key == "lr" and isinstance(value, list):  # RLlib's [[timestep, lr], ...] schedule
                for entry in value:
                    if not isinstance(entry, list | tuple) or len(entry) != 2:
                        raise ValueError(
                            f"lr schedule entries must be [timestep, lr]; got {entry!r}"
                        )
                    check_number("lr", entry[1], **RLLIB_NUMBERS["lr"])
                continue
            check_number(key, value, **RLLIB_NUMBERS[key])
        elif key in RLLIB_BOOLS:
            check_bool(key, value)
        elif key in RLLIB_MAPPINGS and value is not None:
            check_mapping(key, value)
