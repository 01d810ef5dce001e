"""The shipped experiment files: each validates; ours run through `rllib train` and `evaluate`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rllib_maaal.experiment import build_experiments, load_file

TUNED = Path(__file__).resolve().parents[1] / "tuned_configs"
#: Overrides that shrink any of our files to a seconds-long smoke run.
SHORT = [
    "--set",
    "stop.training_iteration=1",
    "--set",
    "config.num_env_runners=0",
    "--set",
    "config.num_envs_per_env_runner=1",
    "--set",
    "config.rollout_fragment_length=20",
]


@pytest.mark.parametrize("path", sorted(TUNED.glob("*.yaml")), ids=lambda p: p.name)
def test_every_tuned_config_validates(path: Path):
    experiments = build_experiments(load_file(path))
    assert experiments


def rllib(*args: str, timeout: int = 600) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "rllib_maaal", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_city_config_trains_and_evaluates_end_to_end(ray_address: str, tmp_path: Path):
    out = rllib(
        "train",
        "--file",
        str(TUNED / "city_7a_7b.yaml"),
        "--address",
        ray_address,
        "--storage-path",
        str(tmp_path),
        *SHORT,
    )
    checkpoint = re.search(r"checkpoint (\S+/checkpoint_\d+)$", out, re.MULTILINE)
    assert checkpoint, out
    evaluation = rllib("evaluate", checkpoint.group(1), "--episodes", "2")
    assert "fraction_completed" in evaluation and "success" in evaluation, evaluation


@pytest.mark.football
def test_grf_config_trains(ray_address: str, tmp_path: Path):
    pytest.importorskip("gfootball")
    out = rllib(
        "train",
        "--file",
        str(TUNED / "grf_10subtasks.yaml"),
        "--address",
        ray_address,
        "--storage-path",
        str(tmp_path),
        "--set",
        "config.lr=0.0005",
        *SHORT,
    )
    # the Front-field and the Back-field experiment, one trial each
    assert len(re.findall(r"checkpoint \S+/checkpoint_\d+$", out, re.MULTILINE)) == 2, out
