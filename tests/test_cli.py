"""The ``rllib`` command end to end: tiny real PPO runs on CartPole through Ray Tune.

In-process runs share one Ray head node (``ray_session``); the cluster and resume tests start
the command as users do, in a subprocess joining that node with ``--address``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from resume_helpers import MAAAL_INTERN, assert_replay_restored

from rllib_maaal import cli, evaluation, ray_runtime
from rllib_maaal.checkpoints import checkpoint_iteration, newest_complete
from rllib_maaal.experiment import ExperimentError, build_experiments, validate_search_space

#: A PPO iteration of about a second on CartPole (one local env runner, 256 steps).
TINY = {
    "train_batch_size_per_learner": 256,
    "minibatch_size": 64,
    "num_epochs": 1,
    "num_env_runners": 0,
}


def write_experiments(path: Path, **experiments: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(experiments, sort_keys=False))  # file order = run order
    return path


def ppo(stop_iterations: int, **config: Any) -> dict[str, Any]:
    return {
        "run": "PPO",
        "env": "CartPole-v1",
        "stop": {"training_iteration": stop_iterations},
        "config": {**TINY, **config},
    }


def rllib(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run the command as users do (a fresh process)."""
    return subprocess.run(
        [sys.executable, "-m", "rllib_maaal", *args],
        capture_output=True,
        text=True,
        timeout=240,
        **kwargs,
    )


def last_result(trial_dir: Path) -> dict[str, Any]:
    return json.loads((trial_dir / "result.json").read_text().strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def _legacy_tune_output(monkeypatch: pytest.MonkeyPatch) -> None:
    # The command switches Tune to its table reporter; keep that switch inside each test.
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "0")


@pytest.fixture(scope="module")
def grid_run(ray_session: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    """One ``rllib train --file`` with a two-point grid search: (exit status, stdout, results)."""
    tmp = tmp_path_factory.mktemp("grid")
    spec = ppo(1, lr={"grid_search": [1e-3, 3e-4]})
    experiments = write_experiments(tmp / "grid.yaml", grid=spec)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["train", "--file", str(experiments), "--storage-path", str(tmp)])
    return status, out.getvalue(), tmp / "grid"


def test_grid_search_runs_both_points_and_reports_checkpoints(grid_run):
    status, out, experiment_dir = grid_run
    assert status == 0, out
    trials = sorted(p for p in experiment_dir.iterdir() if p.is_dir())
    assert len(trials) == 2
    assert sorted(last_result(t)["config"]["lr"] for t in trials) == [3e-4, 1e-3]
    assert "grid: 2 trial(s)" in out
    for trial in trials:
        checkpoint = trial / "checkpoint_000000"
        assert (checkpoint / "rllib_checkpoint.json").is_file()
        assert f"checkpoint {checkpoint}" in out
    best = re.search(r"^best trial's checkpoint: (.+)$", out, re.MULTILINE)
    assert best and Path(best.group(1)).parent in trials
    # "best" is the highest value reached, the same as rllib plot's.
    line = r"^best trial \(highest env_runners/episode_return_mean reached\): \S+, [0-9.]+$"
    assert re.search(line, out, re.MULTILINE), out


def test_evaluate_prints_greedy_episode_metrics(grid_run, capsys):
    _, _, experiment_dir = grid_run
    checkpoint = next(experiment_dir.glob("*/checkpoint_000000"))
    assert cli.main(["evaluate", str(checkpoint), "--episodes", "3"]) == 0
    out = capsys.readouterr().out
    for name in ("episode_return", "episode_length"):
        line = re.search(rf"^\s*{name}: mean ([0-9.]+) .* \(n=3\)$", out, re.MULTILINE)
        assert line, out
        assert float(line.group(1)) >= 8  # CartPole cannot end before 8 steps


def test_evaluate_accepts_a_trial_directory(grid_run, capsys):
    _, _, experiment_dir = grid_run
    trial = next(p for p in experiment_dir.iterdir() if p.is_dir())
    assert cli.main(["evaluate", str(trial), "--episodes", "1"]) == 0
    assert f"checkpoint: {trial / 'checkpoint_000000'}" in capsys.readouterr().out


class FakeEpisode:
    """What ``episode_stats`` reads of an RLlib episode."""

    def __init__(self, ret: float, length: int, infos: dict[str, Any]) -> None:
        self.ret, self.length, self.infos = ret, length, infos

    def get_return(self) -> float:
        return self.ret

    def __len__(self) -> int:
        return self.length

    def get_infos(self, index: int) -> dict[str, Any]:
        assert index == -1
        return self.infos


def test_episode_stats_collect_numeric_final_infos_and_registered_hooks(monkeypatch):
    monkeypatch.setattr(evaluation, "EPISODE_METRICS", list(evaluation.EPISODE_METRICS))
    evaluation.register_episode_metrics(lambda episode: {"double_return": 2 * episode.get_return()})
    episodes = [
        FakeEpisode(1.0, 5, {"success": True, "fraction_completed": 0.5, "note": "text"}),
        FakeEpisode(3.0, 7, {"success": False, "fraction_completed": 1.0}),
    ]
    stats = evaluation.episode_stats(episodes)
    assert stats == {
        "episode_return": [1.0, 3.0],
        "episode_length": [5.0, 7.0],
        "success": [1.0, 0.0],
        "fraction_completed": [0.5, 1.0],
        "double_return": [2.0, 6.0],
    }


def test_train_file_on_a_ray_cluster_started_with_ray_start(ray_address, tmp_path):
    experiments = write_experiments(tmp_path / "one.yaml", remote=ppo(1))
    run = rllib("train", "--file", str(experiments), "--address", ray_address,
                "--storage-path", str(tmp_path))  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"joined the Ray cluster at {ray_address}" in run.stdout  # did not start its own
    best = re.search(r"^best trial's checkpoint: (.+)$", run.stdout, re.MULTILINE)
    assert best and (Path(best.group(1)) / "rllib_checkpoint.json").is_file()


def interrupt(sig: signal.Signals, ray_session: str, tmp: Path) -> tuple[list[str], Path, int]:
    """``rllib train`` of a two-experiment file stopped by ``sig`` after its first checkpoint;
    checks the stop and returns the command's arguments, the trial folder and the iteration
    the run stopped at."""
    # Iterations of at least 2 s give time to interrupt after the first checkpoint, long
    # before the sixth iteration; MAAAL's checkpoints hold its replay.
    config = {**MAAAL_INTERN["config"], "min_time_s_per_iteration": 2}
    spec = {**MAAAL_INTERN, "config": config, "stop": {"training_iteration": 6}}
    # Regular checkpoints every second iteration: the one at the stop comes from the signal.
    spec["checkpoint_config"] = {"checkpoint_frequency": 2}
    # One signal stops the whole file: "later" must not start.
    experiments = write_experiments(tmp / "resume.yaml", resume=spec, later=ppo(1))
    args = ["train", "--file", str(experiments), "--storage-path", str(tmp)]
    first = subprocess.Popen(
        [sys.executable, "-m", "rllib_maaal", *args, "--address", ray_session],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp.glob("resume/*/checkpoint_000000/.rllib_complete")):  # iteration 2
        assert first.poll() is None and time.monotonic() < deadline, "no first checkpoint"
        time.sleep(0.2)
    first.send_signal(sig)  # Ctrl-C or a scheduler's SIGTERM: Tune saves the state and stops
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 128 + sig, out
    assert f"{sig.name}: stopped. Resume with:" in out
    assert re.search(r"^  rllib train --file \S+resume.yaml .*--resume$", out, re.MULTILINE), out
    stopped_at = int(re.search(r": iter (\d+), ", out).group(1))
    assert stopped_at < 6
    (trial,) = [p for p in (tmp / "resume").iterdir() if p.is_dir()]
    newest = newest_complete(trial)
    assert newest is not None and checkpoint_iteration(newest.path) == stopped_at
    assert not list(tmp.glob("later/PPO_*"))  # (its folder holds the run's lock)
    return args, trial, stopped_at


def test_sigterm_stops_the_run_and_saves_it(ray_session, tmp_path):
    interrupt(signal.SIGTERM, ray_session, tmp_path)  # a scheduler's stop: exit status 143


def test_ctrl_c_stops_the_run_and_resume_finishes_it(ray_session, tmp_path):
    args, trial, stopped_at = interrupt(signal.SIGINT, ray_session, tmp_path)  # status 130
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main([*args, "--resume"]) == 0, out.getvalue()
    history = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    assert [r["training_iteration"] for r in history] == list(range(1, 7))
    final = history[-1]
    # Restored from a checkpoint rather than restarted: fewer iterations since the restore.
    assert final["iterations_since_restore"] < 6
    assert "resume: 1 trial(s)" in out.getvalue()
    # Nothing trained before the signal is lost: it goes on from the iteration it stopped at.
    assert f"(iteration {stopped_at})" in out.getvalue(), out.getvalue()
    assert_replay_restored(history, stopped_at)
    assert "resume: later had not started; starting it" in out.getvalue()
    assert list(tmp_path.glob("later/PPO_*/checkpoint_000000"))


def test_help_of_the_module_entry_point():
    run = rllib("--help")
    assert run.returncode == 0
    assert "train" in run.stdout and "evaluate" in run.stdout


BAD_YAML = "bad:\n  run: PPO\n  env: CartPole-v1\n  config: {lr: 0.1\n"


@pytest.mark.parametrize(
    ("argv", "files", "message"),
    [
        (["train", "--file", "{tmp}/missing.yaml"], {}, "experiment file not found: "),
        (["train", "--file", "{tmp}/bad.yaml"], {"bad.yaml": BAD_YAML}, "bad.yaml, line 5"),
        (["train", "--algo", "PPOO", "--env", "CartPole-v1"], {}, "did you mean 'PPO'?); known"),
        (["train", "--algo", "PPO", "--env", "Cartpole-v1"], {}, "maaal/city"),
        (
            ["train", "--algo", "PPO", "--env", "CartPole-v1", "--config", '{"lrr": 0.1}'],
            {},
            "unknown config key 'lrr' for PPO (did you mean 'lr'?)",
        ),
        (
            ["train", "--algo", "PPO", "--env", "CartPole-v1", "--stop", '{"training_iter": 1}'],
            {},
            "unknown stop key 'training_iter' (did you mean 'training_iteration'?)",
        ),
        (
            ["train", "--file", "{tmp}/key.yaml"],
            {"key.yaml": "x:\n  run: PPO\n  env: CartPole-v1\n  stopp: {}\n"},
            "unknown key 'stopp' (did you mean 'stop'?)",
        ),
        (
            ["train", "--algo", "PPO", "--env", "CartPole-v1", "config.lr"],
            {},
            "must look like config.lr=0.001",
        ),
        (
            [
                "train",
                "--algo",
                "PPO",
                "--env",
                "CartPole-v1",
                "--resume",
                "--storage-path",
                "{tmp}",
            ],
            {},
            "--resume: no experiment to resume in ",
        ),  # fmt: skip
        (["evaluate", "{tmp}/nowhere"], {}, "checkpoint not found: "),
        (
            ["train", "--file", "{tmp}/two.yaml", "--experiment", "qmx"],
            {"two.yaml": "maaal: {run: PPO}\nqmix: {run: PPO}\n"},
            "--experiment 'qmx' (did you mean 'qmix'?): {tmp}/two.yaml has maaal, qmix",
        ),
        (["plot", "{tmp}"], {}, "no result.json (a Tune trial's results) under "),
        (
            ["plot", "{tmp}", "--metric", "evaluation/episode_return_mean"],
            {"result.json": '{"num_env_steps_sampled_lifetime": 1, "env_runners": {"x": 1}}\n'},
            "no trial logged 'evaluation/episode_return_mean'",
        ),
        (
            ["train", "--algo", "PPO", "--env", "CartPole-v1", "--address", "127.0.0.1:1"],
            {},
            "cannot reach a Ray cluster at 127.0.0.1:1: ",
        ),
    ],
)
def test_bad_input_is_one_line_and_status_2(argv, files, message, tmp_path, capsys):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    message = message.replace("{tmp}", str(tmp_path))
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rllib: error: ")
    assert message in lines[0]

    assert cli.main([*argv, "--verbose"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.strip().splitlines()[-1] == lines[0]


def city(**config: Any) -> dict[str, Any]:
    """A small MAAAL city experiment (validated only: these tests never start it)."""
    return {
        "run": "MAAAL",
        "env": "maaal/city",
        "stop": {"training_iteration": 1},
        "config": {"env_config": {"scenario": "2-5a_2-5b"}, "num_env_runners": 0, **config},
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"lr": "fast"}, "'x': lr must be a positive number; got 'fast'"),
        ({"num_env_runners": -1}, "num_env_runners must be an int >= 0; got -1"),
        ({"gamma": 2}, "gamma must be a number in (0, 1]; got 2"),
        ({"double_q": "yes"}, "double_q must be true or false; got 'yes'"),
        ({"l1_coeff": "a"}, "MAAALConfig.l1_coeff must be a number >= 0; got 'a'"),
        ({"env_config": [1, 2]}, "env_config must be a mapping {key: value}; got [1, 2] (list)"),
        (
            {"env_config": {"scenario": "7a7b"}},
            "scenario must be one of 2-5a_2-5b, 2-8a_2-8b, 2-10a_2-10b, 7a_7b, 12a_12b, 16a_16b, "
            "20a_20b, 24a_24b; got '7a7b' (did you mean '7a_7b'?)",
        ),
        ({"allocation_solver": "pairing"}, "allocation_solver 'pairing' needs one subtask per"),
        (
            {
                "mixer_state": "pooled",
                "env_config": {"scenario": "2-5a_2-5b", "obs_layout": "flat"},
            },
            "mixer_state 'pooled' pools the team observation's 'entities', which this env does",
        ),
        (
            {"approach_reward_weight": 1.0, "approach_pair_feature": 9},
            "approach_pair_feature must name a column of the env's pair features, 0..8; got 9",
        ),
        ({"lr": {"grid_search": []}}, "'x': config.lr: grid_search must be a non-empty list"),
        ({"model_config": {"hiden": 8}}, "unknown model_config key 'hiden' (did you mean"),
        ({"model_config": {"hidden": 0}}, "model_config.hidden must be an int >= 1; got 0"),
        ({"model": {"fcnet_hiddens": [8]}}, "config key 'model' is the old API stack's"),
        ({"gamma": {"grid_search": [0.9, 1.5]}}, "'x': gamma must be a number in (0, 1]; got 1.5"),
        ({"gamma": {"uniform": [1.1, 1.5]}}, "'x': gamma must be a number in (0, 1]; got 1."),
    ],
)
def test_bad_values_fail_before_ray_with_one_line(config, message, tmp_path, capsys):
    experiments = write_experiments(tmp_path / "x.yaml", x=city(**config))
    assert cli.main(["train", "--file", str(experiments)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rllib: error: experiment 'x"), lines
    assert message in lines[0]


def test_a_bad_value_fails_in_seconds_without_starting_ray(tmp_path):
    experiments = write_experiments(tmp_path / "x.yaml", x=city(gamma=2))
    start = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    run = rllib("train", "--file", str(experiments), env=env)
    elapsed = time.monotonic() - start
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "rllib: error: experiment 'x': gamma must be a number in (0, 1]; got 2"
    ]
    # Measured 2.5-3.5 s on 2 cores (importing RLlib); a Ray start alone takes longer.
    assert elapsed < 10, elapsed


def test_network_sizes_come_from_model_config(tmp_path):
    from rllib_maaal.experiment import tuner_parts, validate_search_space

    (exp,) = build_experiments({"x": city(model_config={"hidden": 16})})
    (config,) = validate_search_space(exp)
    assert config.model_config["hidden"] == 16
    assert tuner_parts(exp)["param_space"]["_model_config"] == {"hidden": 16}


def test_a_missing_football_engine_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gfootball_engine", None)  # import fails
    for module in [m for m in sys.modules if m.startswith("rllib_maaal.envs.football")]:
        monkeypatch.delitem(sys.modules, module)
    football = {"run": "MAAAL", "env": "maaal/football", "config": {"num_env_runners": 0}}
    experiments = write_experiments(tmp_path / "x.yaml", x=football)
    assert cli.main(["train", "--file", str(experiments)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "rllib: error: experiment 'x': the football task needs gfootball 2.10.2: run "
        "`bash docker/install-football.sh`"
    ]


def test_stop_and_config_with_a_file_apply_to_every_experiment(tmp_path, capsys):
    experiments = write_experiments(tmp_path / "x.yaml", a=ppo(50), b=ppo(50))
    argv = ["train", "--file", str(experiments), "--dry-run", "--storage-path", str(tmp_path)]
    argv += ["--stop", '{"training_iteration": 2}', "--config", '{"lr": 0.01}']
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert all("stop {'training_iteration': 2}" in line for line in out), out
    specs = cli._file_specs(cli.build_parser().parse_args(argv))
    assert {s["config"]["lr"] for s in specs.values()} == {0.01}
    assert all(s["config"]["num_epochs"] == 1 for s in specs.values())  # the rest is kept


@pytest.mark.parametrize("flag", [["--env", "CartPole-v1"], ["--name", "n"]])
def test_inline_only_flags_are_refused_with_a_file(flag, tmp_path, capsys):
    experiments = write_experiments(tmp_path / "x.yaml", a=ppo(1))
    assert cli.main(["train", "--file", str(experiments), *flag]) == 2
    assert f"{flag[0]} names the inline experiment" in capsys.readouterr().err


def test_a_trial_larger_than_the_machine_is_refused_before_ray(tmp_path, capsys):
    experiments = write_experiments(tmp_path / "x.yaml", big=ppo(1, num_env_runners=64))
    assert cli.main(["train", "--file", str(experiments)]) == 2
    err = capsys.readouterr().err
    assert "'big': a trial needs {'CPU': 65.0} but Ray has" in err


def test_help_answers_without_importing_ray():
    script = Path(sys.executable).with_name("rllib")  # the installed command
    run = subprocess.run(
        [sys.executable, "-X", "importtime", str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and "train" in run.stdout
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    assert "ray" not in imported and "torch" not in imported


def test_experiment_selects_from_the_file_and_skips_the_others(ray_session, tmp_path):
    # "broken" would fail validation if it were not skipped.
    broken = {**ppo(1), "config": {"no_such_key": 1}}
    experiments = write_experiments(tmp_path / "two.yaml", broken=broken, chosen=ppo(1))
    args = ["train", "--file", str(experiments), "-e", "chosen", "--storage-path", str(tmp_path)]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(args) == 0
    assert (tmp_path / "chosen").is_dir() and not (tmp_path / "broken").exists()


def write_results(trial: Path, rows: list[dict[str, Any]]) -> None:
    trial.mkdir(parents=True)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    (trial / "result.json").write_text(text + '{"cut short by a running tri')


def test_plot_draws_every_trial_and_prints_last_and_best(tmp_path, capsys):
    def row(steps: int, train: float, evaluation: float | None = None) -> dict[str, Any]:
        r = {"num_env_steps_sampled_lifetime": steps, "env_runners": {"episode_return_mean": train}}
        if evaluation is not None:  # evaluation results appear only every few iterations
            r["evaluation"] = {"env_runners": {"episode_return_mean": evaluation}}
        return r

    write_results(tmp_path / "maaal" / "t0", [row(100, -5.0), row(200, -3.0, -2.0), row(300, -4.0)])
    write_results(tmp_path / "qmix" / "t0", [row(100, -6.0, -7.0), row(200, -6.5, -8.0)])
    out_file = tmp_path / "plots" / "curves.png"
    assert (
        cli.main(["plot", str(tmp_path / "maaal"), str(tmp_path / "qmix"), "-o", str(out_file)])
        == 0
    )
    out = capsys.readouterr().out
    assert re.search(r"maaal\s+last\s+-2 \(at 200\)\s+best\s+-2$", out, re.MULTILINE), out
    assert re.search(r"qmix\s+last\s+-8 \(at 200\)\s+best\s+-7$", out, re.MULTILINE), out
    assert re.search(r"maaal\s+last\s+-4 \(at 300\)\s+best\s+-3$", out, re.MULTILINE), out
    assert out_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drawn(monkeypatch) -> dict[str, list]:
    """The labels of the lines and the bands ``rllib plot`` draws, as ``(label, ys)``."""
    import matplotlib.axes

    calls: dict[str, list] = {"lines": [], "bands": [], "markers": []}
    line, fill = matplotlib.axes.Axes.plot, matplotlib.axes.Axes.fill_between

    def plot(ax, xs, ys, *args, **kwargs):
        calls["lines"].append((kwargs.get("label"), list(ys)))
        calls["markers"].append(kwargs.get("marker"))
        return line(ax, xs, ys, *args, **kwargs)

    def fill_between(ax, xs, low, high, *args, **kwargs):
        calls["bands"].append((list(low), list(high)))
        return fill(ax, xs, low, high, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", plot)
    monkeypatch.setattr(matplotlib.axes.Axes, "fill_between", fill_between)
    return calls


def write_seeds(root: Path, returns: dict[int, list[float]]) -> None:
    for seed, ys in returns.items():
        trial = root / f"MAAAL_city_{seed}"
        rows = [
            {
                "num_env_steps_sampled_lifetime": 100 * (i + 1),
                "env_runners": {"episode_return_mean": y},
            }
            for i, y in enumerate(ys)
        ]
        write_results(trial, rows)
        (trial / "params.json").write_text(json.dumps({"lr": 0.001, "seed": seed}))


@pytest.mark.parametrize(
    ("band", "low", "high"),
    [
        ("ci", [2 - 4.302653 * 2 / 3**0.5, 3 - 4.302653 * 2 / 3**0.5], None),
        ("minmax", [0.0, 1.0], [4.0, 5.0]),
    ],
)
def test_plot_draws_the_seeds_of_a_method_as_their_mean_and_a_band(
    tmp_path, capsys, drawn, band, low, high
):
    write_seeds(tmp_path / "maaal", {0: [0.0, 1.0], 1: [2.0, 3.0], 2: [4.0, 5.0]})
    write_seeds(tmp_path / "qmix", {0: [-1.0, -2.0]})
    args = ["plot", str(tmp_path / "maaal"), str(tmp_path / "qmix"), "--smooth", "1"]
    assert cli.main([*args, "--band", band, "-o", str(tmp_path / "c.png")]) == 0
    name = {"ci": "95 % CI", "minmax": "min to max"}[band]
    assert drawn["lines"] == [
        (f"maaal (mean of 3 seeds, {name})", [2.0, 3.0]),
        ("qmix", [-1.0, -2.0]),
    ]
    ((drawn_low, drawn_high),) = drawn["bands"]
    assert drawn_low == pytest.approx(low)
    assert drawn_high == pytest.approx(high or [4 - low[0], 6 - low[1]])
    # the summary still lists every seed
    assert re.search(r"maaal seed=2\s+last\s+5 \(at 200\)", capsys.readouterr().out)


def test_plot_band_none_draws_one_line_per_seed(tmp_path, drawn):
    write_seeds(tmp_path / "maaal", {0: [0.0, 1.0], 1: [2.0, 3.0]})
    args = ["plot", str(tmp_path / "maaal"), "--band", "none", "-o", str(tmp_path / "c.png")]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(args) == 0
    assert [label for label, _ in drawn["lines"]] == ["maaal seed=0", "maaal seed=1"]
    assert drawn["bands"] == []


def test_plot_marks_a_line_of_one_point_which_a_line_alone_would_not_show(tmp_path, drawn):
    write_seeds(tmp_path / "maaal", {0: [0.0, 1.0]})
    write_seeds(tmp_path / "fixed-bt", {0: [3.0]})
    args = ["plot", str(tmp_path / "maaal"), str(tmp_path / "fixed-bt"), "--smooth", "1"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main([*args, "-o", str(tmp_path / "c.png")]) == 0
    assert drawn["lines"] == [("maaal", [0.0, 1.0]), ("fixed-bt", [3.0])]
    assert drawn["markers"] == [None, "o"]


def test_plot_draws_seeds_kept_in_a_csv_and_a_new_seed_as_one_band(tmp_path, drawn):
    write_seeds(tmp_path / "kept" / "maaal", {0: [0.0, 1.0], 1: [2.0, 3.0]})
    kept = tmp_path / "maaal.csv"
    args = ["report", str(tmp_path / "kept"), "-m", "env_runners/episode_return_mean"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main([*args, "--csv", str(kept)]) == 0
        write_seeds(tmp_path / "new" / "maaal", {2: [4.0, 5.0]})
        args = ["plot", str(kept), str(tmp_path / "new"), "--smooth", "1", "--band", "minmax"]
        assert cli.main([*args, "-o", str(tmp_path / "c.png")]) == 0
    assert drawn["lines"] == [("maaal (mean of 3 seeds, min to max)", [2.0, 3.0])]
    assert drawn["bands"] == [([0.0, 1.0], [4.0, 5.0])]


def test_an_evaluation_repeated_by_rllib_is_one_point_an_equal_new_one_is_another(tmp_path):
    from rllib_maaal.curves import load_curves, load_runs

    def row(steps: int, success: float, ret: float, episodes: int) -> dict[str, Any]:
        evaluation = {
            "success": success,
            "episode_return_mean": ret,
            "episode_len_mean": 150.0,
            "num_episodes_lifetime": episodes,  # RLlib: 64 at an evaluation, all at its repeat
        }
        return {"num_env_steps_sampled_lifetime": steps, "evaluation": {"env_runners": evaluation}}

    nan = float("nan")
    # evaluations at 100, 300 and 500 steps; RLlib repeats each in the next result, then NaN
    rows = [row(100, 0, -9.0, 64), row(200, 0, -9.0, 64), row(300, 0, -5.0, 64)]
    rows += [row(400, 0, -5.0, 128), row(450, nan, nan, 128)]
    write_results(
        tmp_path / "r-al" / "t0", [*rows, row(500, 0.25, 1.0, 64), row(600, 0.25, 1.0, 192)]
    )
    metric = "evaluation/env_runners/success"
    ((curve,), _) = load_curves(load_runs([tmp_path / "r-al"]), [metric])
    xs, ys = curve.series[metric]
    assert list(xs) == [100, 300, 500] and list(ys) == [0, 0, 0.25]


def test_band_interpolates_seeds_onto_the_steps_all_of_them_reached():
    from rllib_maaal.curves import Curve, band

    def curve(xs, ys):
        return Curve("c", {"m": (np.array(xs, float), np.array(ys, float))})

    # seed b logs 50 steps later and stops earlier: the band spans [150, 300]
    a, b = curve([100, 200, 300, 400], [0, 2, 4, 6]), curve([150, 250, 300], [2, 3, 5])
    xs, mean, low, high = band([a, b], "m", "minmax")
    assert list(xs) == [150, 200, 250, 300]
    assert list(low) == [1, 2, 3, 4] and list(high) == [2, 2.5, 3, 5]
    assert list(mean) == [1.5, 2.25, 3, 4.5]


def test_unknown_algorithm_lists_ours_and_rllibs(capsys):
    assert cli.main(["train", "--algo", "NOPE", "--env", "CartPole-v1"]) == 2
    known = capsys.readouterr().err.split("known: ")[1].strip().split(", ")
    assert {"MAAAL", "PPO", "DQN", "SAC", "APPO"} <= set(known)


def test_inline_form_with_overrides(ray_session, tmp_path):
    args = ["train", "--algo", "PPO", "--env", "CartPole-v1", "--storage-path", str(tmp_path)]
    args += ["--stop", '{"training_iteration": 5}', "--config", json.dumps(TINY)]
    args += ["--set", "stop.training_iteration=1", "config.lr=5e-4", "--name", "inline"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(args) == 0
    (trial,) = [p for p in (tmp_path / "inline").iterdir() if p.is_dir()]
    result = last_result(trial)
    assert result["training_iteration"] == 1
    assert result["config"]["lr"] == 5e-4


def test_trials_larger_than_ray_are_refused_or_warned(capsys):
    # PPO asks for one CPU per env runner plus one for itself.
    (exp,) = build_experiments({"big": ppo(1, num_env_runners=64)})
    needed = ray_runtime.trial_resources(exp, validate_search_space(exp))
    assert needed == {"CPU": 65.0}
    available = {"CPU": 2.0, "GPU": 0.0}
    with pytest.raises(ExperimentError, match=r"'big': a trial needs \{'CPU': 65.0\}"):
        ray_runtime.check_resources(exp, needed, available, strict=True)
    ray_runtime.check_resources(exp, needed, available, strict=False)
    assert capsys.readouterr().err.startswith("rllib: warning: experiment 'big'")
    ray_runtime.check_resources(exp, {"CPU": 1.0}, available, strict=True)
