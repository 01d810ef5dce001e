"""The README's commands, run as a user types them, each group in a fresh home directory: the
quick start's in README order and, beside them, the others in README order.

Every ``bash`` block line is run unless it is one of these, each covered elsewhere:

* the venv set-up of the two quick-start lines: their last command runs (the main job; the test
  command is this suite itself);
* ``docker``, ``ray start``, the football installer and lines with placeholders (``HEAD_IP``,
  ``my_experiment.yaml``): the Docker, cluster and football set-ups;
* ``rllib train`` of a tuned file that trains for hours: run with ``--dry-run`` (every check,
  no training).

The main job is then held to what the README promises: greedy play after its 50k env steps
beats uniformly random play, both scored the same way (``rllib evaluate``, 32 episodes).

The quick start trains for minutes on one core, so it starts in the background as soon as the
session knows it will run these tests (``start_early``, called by conftest.py once collection
is done): it trains beside the rest of the suite, on the core that the suite's mostly
single-process tests leave idle, instead of after it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from rllib_maaal.evaluation import evaluation_runner

ROOT = Path(__file__).parents[1]
#: Tuned files small enough to train in the suite; the others get ``--dry-run``.
TRAINED_HERE = ("tuned_configs/city_quickstart.yaml", "tuned_configs/cartpole_ppo.yaml")
SKIPPED = ("docker ", "ray start", "install-football", "HEAD_IP", "my_experiment.yaml", "pytest")


def readme_commands() -> list[str]:
    """The commands of the README's bash blocks as the test runs them (see the docstring)."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            line = re.sub(r"\s+# .*$", "", line).strip()
            if not line or any(word in line for word in SKIPPED):
                continue
            line = line.split(" && ")[-1]  # the quick start's last step, after the set-up
            if line.startswith("rllib train --file") and not any(f in line for f in TRAINED_HERE):
                line += " --dry-run"
            commands.append(line)
    return commands


def user_environment(home: Path) -> dict[str, str]:
    """A user's shell environment: their home, our venv's commands first, no Ray address."""
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("RAY_ADDRESS", None)
    return env


class CommandsInOrder:
    """README commands run one after another with ``bash`` in a thread, as a user in a fresh
    home and working directory (the repo's tuned configs reachable from it) types them.

    Each command gets ``TIMEOUT_S`` (the quick start takes about 4 minutes on a quiet 2-core
    machine, longer beside the suite's tests). ``stop()`` kills the running command's process
    group (a command's Ray processes with it) and removes the directories.
    """

    TIMEOUT_S = 900

    def __init__(self, commands: list[str]) -> None:
        root = Path(tempfile.mkdtemp(prefix="readme-user-"))
        self.home, self.work = root / "home", root / "work"
        self.home.mkdir()
        self.work.mkdir()
        (self.work / "tuned_configs").symlink_to(ROOT / "tuned_configs")
        self.commands = commands
        # Taken now: tests running meanwhile may change this process's environment.
        self.env = user_environment(self.home)
        self.runs: list[subprocess.CompletedProcess] = []
        self._running: subprocess.Popen | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run_all, daemon=True)

    def start(self) -> CommandsInOrder:
        if self._thread.ident is None:
            self._thread.start()
        return self

    def wait(self) -> list[tuple[str, subprocess.CompletedProcess]]:
        """The commands and their runs, once the last one has finished."""
        self.start()._thread.join()
        return list(zip(self.commands, self.runs, strict=True))

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._running is not None and self._running.poll() is None:
                os.killpg(self._running.pid, signal.SIGKILL)
        self._thread.join(timeout=30)
        shutil.rmtree(self.home.parent, ignore_errors=True)

    def _run_all(self) -> None:
        for command in self.commands:
            with self._lock:
                if self._stopped:
                    return
                self._running = subprocess.Popen(
                    ["bash", "-c", command.replace("/tmp/ray_results", f"{self.work}/ray_results")],
                    cwd=self.work,
                    env=self.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
            try:
                out, err = self._running.communicate(timeout=self.TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self._running.pid, signal.SIGKILL)
                out, err = self._running.communicate()
                err += f"\n(killed after {self.TIMEOUT_S} s)"
            self.runs.append(
                subprocess.CompletedProcess(command, self._running.returncode, out, err)
            )


#: The README's commands in two groups, each in a home of its own: the quick start's (its
#: training, then its plot and report) and the others. Neither reads what the other writes.
_GROUPS: dict[bool, CommandsInOrder] = {}


def _group(quick_start: bool) -> CommandsInOrder:
    if quick_start not in _GROUPS:
        commands = [c for c in readme_commands() if ("quickstart" in c) == quick_start]
        _GROUPS[quick_start] = CommandsInOrder(commands)
    return _GROUPS[quick_start]


def start_early(items: list[pytest.Item]) -> None:
    """Starts the quick start in the background when a selected test reads its runs."""
    if any("ran" in getattr(item, "fixturenames", ()) for item in items):
        _group(quick_start=True).start()


def stop_early() -> None:
    """Kills what is still running at the end of the session (e.g. after ``-x`` or Ctrl-C)."""
    for group in _GROUPS.values():
        group.stop()


@pytest.fixture(scope="module")
def ran() -> list[tuple[str, subprocess.CompletedProcess]]:
    """Every README command and its run: the others in order here, while the quick start
    (started early, or now) finishes; none of them reads what the other group writes."""
    quick_start = _group(quick_start=True).start()
    done = dict(_group(quick_start=False).wait() + quick_start.wait())
    return [(command, done[command]) for command in readme_commands()]


@pytest.fixture(scope="module")
def user(ran) -> dict[str, Path]:
    """The quick start's home and working directory, once its commands have run."""
    quick_start = _group(quick_start=True)
    return {"home": quick_start.home, "work": quick_start.work}


def test_the_readme_has_the_commands_we_expect():
    commands = readme_commands()
    assert commands[0] == "rllib train --file tuned_configs/city_quickstart.yaml"
    assert any(c.startswith("rllib evaluate") for c in commands)
    assert any(c.startswith("rllib plot ~/ray_results/maaal-city-quickstart") for c in commands)
    assert any(c.endswith("--dry-run") for c in commands)


def test_every_readme_command_runs(ran):
    for command, run in ran:
        assert run.returncode == 0, f"{command}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    plots = [c for c, _ in ran if c.startswith("rllib plot")]
    for command in plots:
        out = shlex.split(command)[shlex.split(command).index("-o") + 1]
        assert out.endswith(".png")


def _greedy_returns(output: str) -> float:
    line = re.search(r"^\s*episode_return: mean (-?[0-9.]+) .*\(n=32\)$", output, re.MULTILINE)
    assert line, output
    return float(line.group(1))


def test_the_main_job_beats_random_play(ran, user, ray_session):
    """The quick start (seed 0) after its 50k env steps against random play, both scored by
    ``rllib evaluate`` (greedy, one env, 32 episodes in a row)."""
    trials = sorted((user["home"] / "ray_results" / "maaal-city-quickstart").glob("MAAAL_*"))
    assert len(trials) == 1, trials
    run = subprocess.Popen(
        [sys.executable, "-m", "rllib_maaal", "evaluate", str(trials[0]), "--episodes", "32"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": str(user["home"]), "RAY_ADDRESS": ray_session},
    )
    try:
        random = random_play_return()  # here, while the command evaluates on the other core
        out, err = run.communicate(timeout=300)
    finally:
        run.kill()  # (a no-op once it has exited)
    assert run.returncode == 0, err[-3000:]
    trained = _greedy_returns(out)
    assert trained > random + MARGIN, (random, trained)


#: Greedy return above random play required of the main job. Measured over seeds 0, 1, 2
#: (config.seed=N, the rest as shipped; this test runs seed 0): trained −28.2, −21.6, −14.1,
#: random −38.2, −35.6, −41.5, margins +10.0, +14.0, +27.4 (the README's promise is +8 on each;
#: without the approach shaping +10.1, +10.9, +11.5). The same job without shaping and with
#: TD(λ = 0.6) gave +15.3 and +5.8 on seeds 0 and 1, so a machine whose float rounding sends
#: training down another path can land about 5 points off the seeds measured here: the test
#: asks for 6.
MARGIN = 6.0


def random_play_return() -> float:
    """Uniformly random allocations and actions, evaluated as ``rllib evaluate`` does."""
    from rllib_maaal.algorithms.maaal import MAAALConfig
    from rllib_maaal.experiment import load_file

    (spec,) = load_file(ROOT / "tuned_configs" / "city_quickstart.yaml").values()
    config = MAAALConfig().update_from_dict(spec["config"]).environment(spec["env"])
    # (no approach shaping: random play learns no actions)
    random_play = {"allocation": "random", "action": "random", "approach_reward_weight": 0.0}
    algo = config.training(**random_play).build_algo()
    try:
        episodes = evaluation_runner(algo).sample(num_episodes=32, explore=False)
    finally:
        algo.stop()
    return float(np.mean([e.get_return() for e in episodes[:32]]))
