"""The README's commands, run as a user types them, in a fresh home directory: the quick start's
in README order and, beside them, the others in README order.

Every ``bash`` block line is run unless it is one of these, each covered elsewhere:

* the venv set-up of the two quick-start lines: their last command runs (the main job; the test
  command is this suite itself);
* ``docker``, ``ray start``, the football installer and lines with placeholders (``HEAD_IP``,
  ``my_experiment.yaml``): the Docker, cluster and football set-ups;
* ``rllib train`` of a tuned file that trains for hours: run with ``--dry-run`` (every check,
  no training).

The main job is then held to what the README promises: greedy play after its 50k env steps
beats uniformly random play, both scored the same way (``rllib evaluate``, 32 episodes).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A user's home and working directory (the repo's tuned configs reachable from it)."""
    home = tmp_path_factory.mktemp("home")
    work = tmp_path_factory.mktemp("work")
    (work / "tuned_configs").symlink_to(ROOT / "tuned_configs")
    return {"home": home, "work": work}


def run_in_order(commands: list[str], **kwargs: Any) -> list[subprocess.CompletedProcess]:
    return [subprocess.run(["bash", "-c", command], **kwargs) for command in commands]


@pytest.fixture(scope="module")
def ran(user: dict[str, Path]) -> list[tuple[str, subprocess.CompletedProcess]]:
    """Every README command, run with ``bash`` (globs and ``~`` expand as for users): the quick
    start's (its training, then its plot and report) in order, and beside them the others in
    order. The quick start trains for minutes on one core while the others mostly wait on Ray
    starting, and none of them reads what the other group writes."""
    env = {
        **os.environ,
        "HOME": str(user["home"]),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("RAY_ADDRESS", None)
    commands = [
        command.replace("/tmp/ray_results", str(user["work"] / "ray_results"))
        for command in readme_commands()
    ]
    quick_start = [command for command in commands if "quickstart" in command]
    others = [command for command in commands if command not in quick_start]
    options = {"cwd": user["work"], "env": env, "capture_output": True, "text": True}
    with ThreadPoolExecutor(2) as pool:
        groups = [
            (g, pool.submit(run_in_order, g, timeout=600, **options)) for g in (quick_start, others)
        ]
        done = {c: run for g, runs in groups for c, run in zip(g, runs.result(), strict=True)}
    return [(command, done[command]) for command in commands]


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
