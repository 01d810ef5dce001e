"""Modules and episodes of the toy task for the MAAAL tests (a module of its own name, so that
tests import it whatever else pytest has loaded; fixtures live in conftest.py)."""

from __future__ import annotations

import numpy as np
import torch
from toy_task import ToyCore

from rllib_maaal.algorithms.maaal import MAAALConfig
from rllib_maaal.algorithms.maaal.torch.maaal_torch_rl_module import MAAALTorchRLModule


def make_module(
    pair: bool = False, entities: bool = False, **training
) -> tuple[MAAALTorchRLModule, MAAALConfig]:
    """A module for the toy task (with its ``pair`` features if ``pair``, its entity layout if
    ``entities``) and its config."""
    config = MAAALConfig().training(**training)
    core = ToyCore(pair=pair, entities=entities)
    torch.manual_seed(0)
    module = MAAALTorchRLModule(
        observation_space=core.single_observation_space,
        action_space=core.single_action_space,
        model_config=config.model_config,
    )
    module.make_target_networks()
    return module, config


def toy_episodes(n: int, seed: int = 0, pair: bool = False, entities: bool = False) -> list[dict]:
    """``n`` complete toy episodes under uniformly random valid allocations and actions, with
    the toy's ``subtask_reward`` (T, M)."""
    rng = np.random.default_rng(seed)
    core = ToyCore(1, seed, pair, entities)
    one = np.ones(1, bool)
    episodes = []
    for _ in range(n):
        core.reset(one)
        steps = {key: [] for key in ("allocation", "action", "reward", "subtask_reward")}
        steps["obs"] = [core.observe()]
        while True:
            obs = steps["obs"][-1]
            active = np.flatnonzero(obs["subtask_active"][0])
            action = {
                "allocation": rng.choice(active, size=(1, obs["allocation"].shape[1])),
                "action": rng.integers(0, 4, size=(1, obs["obs"].shape[1])),
            }
            reward, terminated, truncated, infos = core.step(action, one)
            steps["obs"].append(core.observe())
            steps["allocation"].append(
                np.where(obs["decide"][0] > 0, action["allocation"][0], obs["allocation"][0])
            )
            steps["action"].append(action["action"][0])
            steps["reward"].append(reward[0])
            steps["subtask_reward"].append(infos["subtask_reward"][0])
            if terminated[0] or truncated[0]:
                break
        episodes.append(
            {
                "obs": {k: np.stack([o[k][0] for o in steps["obs"]]) for k in steps["obs"][0]},
                "allocation": np.stack(steps["allocation"]),
                "action": np.stack(steps["action"]),
                "reward": np.asarray(steps["reward"], np.float32),
                "subtask_reward": np.stack(steps["subtask_reward"]),
                "terminated": bool(terminated[0]),
                "length": len(steps["reward"]),
            }
        )
    return episodes
