"""Crash-safe resume, the experiment lock, ``max_failures`` and ``rllib evaluate``'s checkpoint
checks, with real processes: ``rllib train`` killed with SIGKILL, then ``--resume``.

A checkpoint cut short by a crash is made with a test hook (``sitecustomize`` on the trial's
``PYTHONPATH``) that stalls Tune's copy of one checkpoint into the trial folder after its first
file, as a slow disk would; those runs start their own Ray instance, whose workers inherit the
hook, and are stopped through their process group.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from resume_helpers import MAAAL_INTERN, assert_replay_restored

from rllib_maaal import cli
from rllib_maaal.checkpoints import (
    MARKER,
    checkpoint_iteration,
    newest_complete,
)
from rllib_maaal.experiment import ExperimentError, build_experiments, tuner_parts
from rllib_maaal.locks import lock_experiments

#: A PPO iteration of about a second on CartPole (one local env runner, 256 steps).
TINY = {
    "train_batch_size_per_learner": 256,
    "minibatch_size": 64,
    "num_epochs": 1,
    "num_env_runners": 0,
}

HOOK = """
import os
import shutil
import time
from pathlib import Path

import ray.train._internal.storage as storage

copy_files = storage._pyarrow_fs_copy_files


def stalled_copy(source, destination, **kwargs):
    if Path(destination).name != os.environ["RLLIB_TEST_STALL"]:
        return copy_files(source, destination, **kwargs)
    os.makedirs(destination, exist_ok=True)
    shutil.copy(Path(source, "rllib_checkpoint.json"), destination)
    Path(destination, "stalled_pid").write_text(str(os.getpid()))
    time.sleep(600)


storage._pyarrow_fs_copy_files = stalled_copy
"""


@pytest.fixture(autouse=True)
def _legacy_tune_output(monkeypatch: pytest.MonkeyPatch) -> None:
    # The command switches Tune to its table reporter; keep that switch inside each test.
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "0")


def experiment_file(tmp: Path, iterations: int, **extra: Any) -> Path:
    """An experiment of ``iterations`` with a checkpoint after each: MAAAL (``MAAAL_INTERN``),
    or with ``extra`` keys (``run``, ``config``, ...) in their place."""
    spec = {
        **MAAAL_INTERN,
        "stop": {"training_iteration": iterations},
        "checkpoint_config": {"checkpoint_frequency": 1},
        **extra,
    }
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump({"exp": spec}))
    return path


def train_args(tmp: Path, iterations: int, **extra: Any) -> list[str]:
    experiments = experiment_file(tmp, iterations, **extra)
    return ["train", "--file", str(experiments), "--storage-path", str(tmp)]


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """``rllib ARGS`` in a process group of its own (with the Ray instance it may start)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rllib_maaal", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(condition: Callable[[], Any], what: str, proc: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + 180
    while not (value := condition()):
        assert proc is None or proc.poll() is None, f"exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def trial_dir(tmp: Path) -> Path | None:
    found = [p for p in (tmp / "exp").glob("*_*") if p.is_dir()]
    return found[0] if found else None


def rows(trial: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the driver, then (cleanup) what is left of its process group."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def resume(args: list[str], *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main([*args, "--resume", *extra])
    return status, out.getvalue()


def assert_resumed_to_the_end(trial: Path, out: str, iterations: int, from_iteration: int) -> None:
    """Every iteration logged once, training going on right after ``from_iteration``."""
    history = rows(trial)
    assert [r["training_iteration"] for r in history] == list(range(1, iterations + 1)), out
    assert history[from_iteration]["iterations_since_restore"] == 1
    assert_replay_restored(history, from_iteration)
    newest = newest_complete(trial)
    assert newest is not None and checkpoint_iteration(newest.path) == iterations


@contextlib.contextmanager
def stalling_hook(tmp: Path, checkpoint: str) -> Iterator[dict[str, str]]:
    hook_dir = tmp / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    path = os.pathsep.join([str(hook_dir), os.environ.get("PYTHONPATH", "")])
    # Handed to the job's workers on the shared head node as a job submission would.
    runtime_env = {"env_vars": {"PYTHONPATH": path, "RLLIB_TEST_STALL": checkpoint}}
    yield {"RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps({"runtime_env": runtime_env})}


def test_kill_9_of_the_driver_resumes_from_the_newest_complete_checkpoint(ray_session, tmp_path):
    args = train_args(tmp_path, 6)
    first = start([*args, "--address", ray_session])
    trial = wait_for(lambda: trial_dir(tmp_path), "a trial folder", first)
    wait_for(lambda: (c := newest_complete(trial)) and c.index >= 1, "2 checkpoints", first)

    # A second run of the running experiment is refused, in one line.
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli.main(args) == 2
    (line,) = err.getvalue().strip().splitlines()
    assert re.match(rf"rllib: error: experiment {tmp_path / 'exp'} is being trained by pid ", line)

    kill_group(first)
    pid = rows(trial)[-1]["pid"]
    wait_for(lambda: gone(pid), "the trial's process to end with its driver")
    newest = newest_complete(trial)
    iteration = checkpoint_iteration(newest.path)
    assert iteration < 6
    kept = {c: c.stat().st_mtime_ns for c in trial.glob("checkpoint_*") if (c / MARKER).is_file()}

    status, out = resume(args)
    assert status == 0, out
    assert f"continues from {newest.path.name} (iteration {iteration})" in out
    assert_resumed_to_the_end(trial, out, 6, iteration)
    # The checkpoints it had were kept as they were; new ones were added after them.
    assert {c: c.stat().st_mtime_ns for c in kept} == kept


def test_kill_9_of_the_driver_while_a_checkpoint_is_written(ray_session, tmp_path):
    args = train_args(tmp_path, 4)
    with stalling_hook(tmp_path, "checkpoint_000002") as env:
        first = start([*args, "--address", ray_session], env)
        try:
            trial = wait_for(lambda: trial_dir(tmp_path), "a trial folder", first)
            stalled = trial / "checkpoint_000002" / "stalled_pid"
            wait_for(stalled.is_file, "the stalled checkpoint", first)
        finally:
            kill_group(first)
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.kill(int(stalled.read_text()), signal.SIGKILL)

    status, out = resume(args)
    assert status == 0, out
    assert (
        "continues from checkpoint_000001 (iteration 2); removed incomplete checkpoint_000002"
        in out
    )
    assert_resumed_to_the_end(trial, out, 4, 2)


def test_kill_9_of_the_trial_while_it_writes_its_checkpoint(ray_session, tmp_path):
    args = train_args(tmp_path, 4)
    with stalling_hook(tmp_path, "checkpoint_000002") as env:
        first = start([*args, "--address", ray_session], env)
        try:
            trial = wait_for(lambda: trial_dir(tmp_path), "a trial folder", first)
            stalled = trial / "checkpoint_000002" / "stalled_pid"
            wait_for(stalled.is_file, "the stalled checkpoint", first)
            os.kill(int(stalled.read_text()), signal.SIGKILL)
            assert first.wait(timeout=120) == cli.EXIT_TRIAL_FAILED
        finally:
            kill_group(first)

    status, out = resume(args, "--max-failures", "2")
    assert status == 0, out
    assert (
        "continues from checkpoint_000001 (iteration 2); removed incomplete checkpoint_000002"
        in out
    )
    assert_resumed_to_the_end(trial, out, 4, 2)
    state = sorted((tmp_path / "exp").glob("experiment_state-*.json"))[-1]
    (saved,) = json.loads(state.read_text())["trial_data"]
    assert json.loads(saved[0])["max_failures"] == 2


def test_the_lock_is_free_once_its_holder_is_killed(tmp_path):
    holder = start_holder(tmp_path / "exp")
    match = rf"is being trained by pid {holder.pid} on "
    with pytest.raises(ExperimentError, match=match), lock_experiments([tmp_path / "exp"]):
        pass
    holder.kill()
    holder.wait(timeout=30)
    with lock_experiments([tmp_path / "exp"]):  # though its file still names the dead holder
        pass


def start_holder(experiment_dir: Path) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import time
        from rllib_maaal.locks import lock_experiments
        with lock_experiments([__import__("pathlib").Path({str(experiment_dir)!r})]):
            print("locked", flush=True)
            time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture(scope="module")
def finished_trial(ray_session: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trial folder with checkpoint_000000 and checkpoint_000001 (two iterations)."""
    tmp = tmp_path_factory.mktemp("evaluate")
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(train_args(tmp, 2)) == 0
    return trial_dir(tmp)


def evaluate(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["evaluate", *args, "--episodes", "1"])
    return status, out.getvalue(), err.getvalue()


def test_evaluate_takes_a_relative_path(finished_trial, monkeypatch):
    monkeypatch.chdir(finished_trial.parent)
    status, out, err = evaluate(f"{finished_trial.name}/checkpoint_000001")
    assert status == 0, err
    assert f"checkpoint: {finished_trial / 'checkpoint_000001'}" in out


def test_evaluate_refuses_a_checkpoint_without_learned_weights(finished_trial, tmp_path):
    copy = shutil.copytree(finished_trial / "checkpoint_000001", tmp_path / "checkpoint")
    shutil.rmtree(copy / "learner_group")
    status, _, err = evaluate(str(copy))
    assert status == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("rllib: error: not a usable RLlib checkpoint (no learned weights")


def test_evaluate_in_a_trial_folder_skips_incomplete_checkpoints(finished_trial, tmp_path):
    trial = shutil.copytree(finished_trial, tmp_path / finished_trial.name)
    (trial / "checkpoint_000003").mkdir()  # a write that never started its files
    cut = shutil.copytree(trial / "checkpoint_000001", trial / "checkpoint_000002")
    (cut / MARKER).unlink()  # every file there, but the copy was not confirmed finished
    status, out, err = evaluate(str(trial))
    assert status == 0, err
    assert f"checkpoint: {trial / 'checkpoint_000001'}" in out
    status, _, err = evaluate(str(cut))
    assert status == 2 and "interrupted while being written" in err


def test_max_failures_from_the_file_and_the_command_line(tmp_path, capsys):
    (exp,) = build_experiments({"x": {"run": "PPO", "env": "CartPole-v1", "max_failures": 3}})
    assert tuner_parts(exp)["failure_config"].max_failures == 3
    args = cli.build_parser().parse_args(
        ["train", "--algo", "PPO", "--set", "max_failures=1", "--max-failures", "-1"]
    )
    assert args.set == ["max_failures=1", "max_failures=-1"]  # the last one wins

    experiments = experiment_file(tmp_path, 1, max_failures="twice")
    assert cli.main(["train", "--file", str(experiments)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "rllib: error: experiment 'exp': max_failures must be an integer, -1 (always retry) or "
        "more, got 'twice'"
    )


@pytest.mark.slow  # 35-90 s each on two shared cores
@pytest.mark.parametrize(
    "search", [{"num_samples": 3}, {"num_samples": 3, "search_alg": {"type": "optuna"}}]
)
def test_kill_9_of_a_search_resumes_every_trial_once(search, ray_session, tmp_path):
    # Three trials on two CPUs: the third starts when the first ends. Tune saves its state only
    # at the start here, so the third trial's start is in no saved state (a searcher creates it
    # only then).
    config = {**TINY, "lr": {"uniform": [1e-4, 1e-3]}}
    args = train_args(tmp_path, 3, run="PPO", env="CartPole-v1", config=config, **search)
    first = start([*args, "--address", ray_session], {"TUNE_GLOBAL_CHECKPOINT_S": "600"})
    try:
        trials = lambda: sorted(p for p in (tmp_path / "exp").glob("PPO_*") if p.is_dir())  # noqa: E731
        wait_for(lambda: len(trials()) == 3 and newest_complete(trials()[-1]), "3 trials", first)
    finally:
        kill_group(first)
    started = {trial.name: newest_complete(trial) for trial in trials()}

    status, out = resume(args)
    assert status == 0, out
    assert sorted(p.name for p in trials()) == sorted(started), out  # none new, none lost
    for trial in trials():
        assert [r["training_iteration"] for r in rows(trial)] == [1, 2, 3], (trial.name, out)
        assert checkpoint_iteration(newest_complete(trial).path) == 3
        if started[trial.name] and checkpoint_iteration(started[trial.name].path) < 3:
            resumed = rf"{re.escape(trial.name)}: .*continues from {started[trial.name].path.name}"
            assert re.search(resumed, out), out
