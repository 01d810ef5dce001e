"""Modules and intern episodes for the option-critic tests (a module of its own name, so that
tests import it whatever else pytest has loaded; fixtures live in conftest.py)."""

from __future__ import annotations

import numpy as np
import torch

from rllib_maaal.algorithms.option_critic import OptionCriticConfig
from rllib_maaal.algorithms.option_critic.torch.option_critic_torch_rl_module import (
    OptionCriticTorchRLModule,
)
from rllib_maaal.envs.intern import InternConfig, InternCore, obs_columns
from rllib_maaal.grouping import random_pairing

#: The intern observation columns that hold team labels.
LABELS = obs_columns(["team", "opponent"])
#: A small cohort: 5 teams (one sits out in a maximal pairing) of 3 interns, 2 weeks.
SMALL = InternConfig(n_teams=5, team_size=3, n_weeks=2)


def make_module(
    cfg: InternConfig = SMALL, seed: int = 0, **training
) -> tuple[OptionCriticTorchRLModule, OptionCriticConfig]:
    config = OptionCriticConfig().training(**{"drop_obs_features": LABELS, **training})
    core = InternCore(cfg)
    torch.manual_seed(seed)
    module = OptionCriticTorchRLModule(
        observation_space=core.single_observation_space,
        action_space=core.single_action_space,
        model_config=config.model_config,
    )
    module.make_target_networks()
    return module, config


def intern_episodes(n: int, cfg: InternConfig = SMALL, seed: int = 0) -> list[dict]:
    """``n`` complete episodes under random pairings and random messages, as the replay keeps
    them (the allocation recorded is the one in force at each step)."""
    rng = np.random.default_rng(seed)
    core = InternCore(cfg, num_envs=n, seed=seed)
    every = np.ones(n, bool)
    core.reset(every)
    obs, allocation, action, reward = [core.observe()], [], [], []
    for _ in range(cfg.horizon):
        chosen = random_pairing(rng, n, cfg.n_teams, cfg.allow_self)
        messages = rng.integers(0, 2, (n, cfg.n_interns))
        in_force = np.where(core.decide[:, None], chosen, core.partners)
        r, _, _, _ = core.step({"allocation": chosen, "action": messages}, every)
        obs.append(core.observe())
        allocation.append(in_force)
        action.append(messages)
        reward.append(r.astype(np.float32))
    return [
        {
            "obs": {k: np.stack([o[k][b] for o in obs]) for k in obs[0]},
            "allocation": np.stack([a[b] for a in allocation]),
            "action": np.stack([a[b] for a in action]),
            "reward": np.array([r[b] for r in reward], np.float32),
            "terminated": False,
            "length": cfg.horizon,
        }
        for b in range(n)
    ]
