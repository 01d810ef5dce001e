"""The progress lines of ``rllib train``: what they say and when they are printed."""

from __future__ import annotations

import io
from pathlib import Path

from rllib_maaal.curves import default_metrics, flatten_result
from rllib_maaal.progress import ProgressCallback, TrialLine, duration, home


def result(iteration: int, steps: int, seconds: float, **extra) -> dict:
    return {
        "training_iteration": iteration,
        "num_env_steps_sampled_lifetime": steps,
        "time_total_s": seconds,
        "env_runners": {"episode_return_mean": -30.0 + iteration, **extra},
    }


def test_a_line_shows_steps_against_the_target_rate_eta_returns_and_task_metrics():
    line = TrialLine("MAAAL_city_00000", {"num_env_steps_sampled_lifetime": 10_000})
    line.status = "RUNNING"
    line.update(result(1, 1_000, 10.0, success=0.25, fraction_completed=0.5))
    line.update(result(2, 2_000, 20.0, success=0.25, fraction_completed=0.5))
    line.update(
        {**result(3, 3_000, 30.0), "evaluation": {"env_runners": {"episode_return_mean": -5}}}
    )
    line.update(result(4, 4_000, 40.0))  # no evaluation this iteration: the last one stays
    text = line.render()
    assert text.startswith("MAAAL_city_00000  RUNNING  iter 4  steps 4,000/10,000  100/s")
    assert "ETA 1m00s" in text  # 6,000 steps at 100/s
    assert "return -26  greedy -5" in text


def test_eta_follows_the_nearest_stop_criterion():
    line = TrialLine("t", {"training_iteration": 5, "time_total_s": 1_000})
    line.update(result(1, 100, 20.0))
    assert line.eta() == 80.0  # 4 iterations of 20 s, before the 1,000 s limit


def test_rate_is_measured_over_the_last_minute():
    line = TrialLine("t", {})
    line.update(result(1, 0, 0.0))
    line.update(result(2, 100_000, 10.0))  # a fast start ...
    for k in range(3, 12):
        line.update(result(k, 100_000 + (k - 2) * 1_000, 10.0 + (k - 2) * 10.0))
    assert line.steps_per_s == 100.0  # ... no longer counts once it is a minute old


def test_not_a_terminal_prints_every_interval_and_on_trial_events():
    out = io.StringIO()
    callback = ProgressCallback({"training_iteration": 3}, interval=3600, out=out)
    trial = type("Trial", (), {"__str__": lambda self: "PPO_x_00000"})()
    callback.on_trial_start(0, [trial], trial)
    callback.on_trial_result(0, [trial], trial, result(1, 10, 1.0))  # within the interval
    callback.on_trial_complete(0, [trial], trial)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("PPO_x_00000  RUNNING")
    assert "PPO_x_00000  DONE  iter 1" in lines[1]
    assert "\x1b[" not in out.getvalue()


def test_helpers():
    assert duration(42) == "42s" and duration(185) == "3m05s" and duration(3720) == "1h02m"
    assert home(Path.home() / "ray_results" / "x") == "~/ray_results/x"
    assert home("/tmp/x") == "/tmp/x"
    # The metric ranked for "best" (the summary's and rllib plot's): the first one logged.
    with_eval = [flatten_result({"evaluation": {"env_runners": {"episode_return_mean": 1.0}}})]
    assert default_metrics([with_eval])[0] == "evaluation/env_runners/episode_return_mean"
    exploring = [flatten_result(result(1, 1, 1.0))]
    assert default_metrics([exploring])[0] == "env_runners/episode_return_mean"
