"""MAAAL sampling throughput on SAVETHECITY: the team EnvRunner against RLlib's and the ceiling.

Per scenario, in one process and one run (so the figures share the machine's load):

* tight loop (the ceiling): the batched env stepped with the module's exploration forward on
  the whole batch, nothing else;
* RLlib's ``SingleAgentEnvRunner.sample()`` and our ``TeamEnvRunner.sample()`` on the same
  config (in this process), alternated round by round;
* inside training: the tuned config's ``train()`` with one remote EnvRunner, its sampling speed
  taken from the actor's own ``sample()`` timer (``env_runners/sample``), and the end-to-end
  env steps/s;
* replay memory: bytes per stored env step of the compact replay filled to its 1,000-episode
  capacity, against the earlier layout (every observation key per step, int64 indices).

Threads: one torch thread everywhere (``torch.set_num_threads(1)`` here, and Ray's EnvRunner
actors, which get ``OMP_NUM_THREADS=1`` from their one CPU). Numba compiles the city's kernels
in a warm-up before any timing. Rates are per CPU-second of this process (``process_time``) as
well as per wall-second.

    python benchmarks/maaal_throughput.py --scenarios 7a_7b 2-5a_2-5b
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402
from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner  # noqa: E402

import rllib_maaal  # noqa: E402, F401  (registers maaal/city and MAAAL)
from rllib_maaal.algorithms.episodic.episode_replay import EpisodeReplay  # noqa: E402
from rllib_maaal.algorithms.episodic.team_env_runner import TeamEnvRunner  # noqa: E402
from rllib_maaal.algorithms.maaal import MAAALConfig  # noqa: E402
from rllib_maaal.envs.city import make_team_env  # noqa: E402


def _config(scenario: str, num_env_runners: int, num_envs: int) -> MAAALConfig:
    """tuned_configs/city_7a_7b.yaml's sampling and updates, without evaluation."""
    return (
        MAAALConfig()
        .environment("maaal/city", env_config={"scenario": scenario, "allocation_interval": 5})
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs,
            rollout_fragment_length=25,
        )
        .training(
            num_episodes_before_learning_starts=32, episodes_per_update=32, updates_per_iteration=2
        )
        .debugging(seed=0)
    )


class Rate:
    """Env steps per wall-second and per CPU-second of this process, summed over rounds."""

    def __init__(self) -> None:
        self.steps, self.wall, self.cpu = 0, 0.0, 0.0

    def time(self, run) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.steps += run()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu

    def __str__(self) -> str:
        return f"{self.steps / self.wall:8.0f} /s wall {self.steps / self.cpu:8.0f} /CPU-s"


class TightLoop:
    """The batched env stepped with the module's exploration forward, nothing else."""

    def __init__(self, env, module) -> None:
        self.env, self.module = env, module
        self.obs, _ = env.reset(seed=0)
        self.resetting = np.zeros(env.num_envs, bool)

    def __call__(self, steps: int) -> int:
        """``steps`` vector steps; the env steps they made (slots being reset make none)."""
        made = 0
        for _ in range(steps):
            obs = {k: v if v.flags.writeable else np.array(v) for k, v in self.obs.items()}
            batch = {Columns.OBS: {k: torch.from_numpy(v) for k, v in obs.items()}}
            actions = self.module.forward_exploration(batch, t=0)[Columns.ACTIONS]
            step = self.env.step({k: v.numpy() for k, v in actions.items()})
            self.obs, terminated, truncated = step[0], step[2], step[3]
            made += int((~self.resetting).sum())
            self.resetting = terminated | truncated
        return made


def sampling(scenario: str, num_envs: int, rounds: int, steps: int) -> dict[str, Rate]:
    config = _config(scenario, 0, num_envs)
    team = TeamEnvRunner(config=config)
    rllib = SingleAgentEnvRunner(config=config)
    rllib.set_state(team.get_state())  # the same weights
    loop = TightLoop(make_team_env({**config.env_config, "num_envs": num_envs}), team.module)
    runs = {
        "tight loop (env + module forward)": lambda: loop(steps),
        "RLlib SingleAgentEnvRunner": lambda: _sampled(rllib, steps * num_envs),
        "TeamEnvRunner": lambda: _sampled(team, steps * num_envs),
    }
    for run in runs.values():  # warm-up: numba compiles, torch allocates
        run()
    rates = {name: Rate() for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            rates[name].time(run)
    team.stop()
    rllib.stop()
    return rates


def _sampled(runner, num_timesteps: int) -> int:
    return sum(len(e) for e in runner.sample(num_timesteps=num_timesteps))


def in_training(scenario: str, num_envs: int, iterations: int) -> tuple[float, float]:
    """(EnvRunner actor's sampling env steps/s, end-to-end training env steps/s)."""
    algo = _config(scenario, 1, num_envs).build_algo()
    while len(algo.replay) < 64:  # warm-up: fill the replay, start learning
        algo.train()
    steps = seconds = 0.0
    start, sampled0 = time.perf_counter(), algo.replay.num_steps_added
    for _ in range(iterations):
        runners = algo.train()["env_runners"]
        steps += runners["num_env_steps_sampled"]
        seconds += runners["sample"]
    wall = time.perf_counter() - start
    sampled = algo.replay.num_steps_added - sampled0
    algo.stop()
    return steps / seconds, sampled / wall


def replay_bytes(scenario: str, num_envs: int, capacity: int) -> dict[str, float]:
    """Bytes per env step of the compact replay filled to ``capacity`` episodes: stored (the
    episodes' rows and per-episode entries) and allocated (its ring, with room to spare), and
    of the earlier layout (every observation key per step, int64 indices)."""
    config = _config(scenario, 0, num_envs)
    runner = TeamEnvRunner(config=config)
    replay = EpisodeReplay(capacity, seed=0, codec=runner.observation_codec)
    while len(replay) < capacity:
        replay.add(runner.sample(num_timesteps=25 * num_envs))
    state = replay.get_state()
    steps = state["length"].sum()
    space = runner.env.single_observation_space
    obs = sum(np.prod(s.shape) * s.dtype.itemsize for s in space.spaces.values())
    actions = 8 * sum(np.prod(s.shape) for s in runner.env.single_action_space.spaces.values())
    runner.stop()
    stored = sum(v.nbytes for k, v in state.items() if k.startswith(("rows/", "taken/", "con")))
    earlier = obs * (steps + len(state["length"])) + (actions + 4) * steps
    return {
        "stored": stored / steps,
        "allocated": replay.nbytes / steps,
        "earlier": earlier / steps,
        "MiB": replay.nbytes / 2**20,
        "earlier MiB": earlier / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["7a_7b", "2-5a_2-5b"])
    parser.add_argument("--num-envs", type=int, default=64, help="cities per EnvRunner")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100, help="vector steps per round")
    parser.add_argument("--iterations", type=int, default=10, help="timed train() calls")
    parser.add_argument("--capacity", type=int, default=1000, help="replay episodes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ray.init(include_dashboard=False)
    print(
        f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    )
    for scenario in args.scenarios:
        print(f"\n{scenario}, {args.num_envs} cities per runner, env steps:")
        rates = sampling(scenario, args.num_envs, args.rounds, args.steps)
        ceiling = rates["tight loop (env + module forward)"]
        old = rates["RLlib SingleAgentEnvRunner"]
        for name, rate in rates.items():
            print(
                f"  {name:36s} {rate}  {ceiling.cpu / rate.cpu * rate.steps / ceiling.steps:6.1%}"
                f" of the ceiling, x{old.cpu / rate.cpu * rate.steps / old.steps:4.2f} RLlib's"
            )
        actor, end_to_end = in_training(scenario, args.num_envs, args.iterations)
        print(
            f"  in training, 1 EnvRunner actor: sampling {actor:8.0f} /s (actor's sample timer), "
            f"end to end {end_to_end:8.0f} env steps/s"
        )
        memory = replay_bytes(scenario, args.num_envs, args.capacity)
        print(
            f"  replay at {args.capacity} episodes: {memory['stored']:6.0f} B per env step stored, "
            f"{memory['allocated']:6.0f} B allocated ({memory['MiB']:6.1f} MiB); earlier layout "
            f"{memory['earlier']:6.0f} B ({memory['earlier MiB']:6.1f} MiB)"
        )


if __name__ == "__main__":
    main()
