"""One city with PettingZoo's parallel and AEC APIs (:func:`parallel_env`, :func:`env`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec

from rllib_maaal.envs.city.core import AGENT_TYPES, CityCore
from rllib_maaal.envs.city.kernels import N_ACTIONS, N_FEATURES, STAY
from rllib_maaal.envs.city.render import RENDER_MODES
from rllib_maaal.envs.rendering import FrameViewer
from rllib_maaal.envs.team import check_agent_actions
from rllib_maaal.validation import check_choice


class CityParallelEnv(ParallelEnv):
    """One city with PettingZoo's parallel API.

    Observations are dicts ``{"observation": own features + every entity's (flat layout),
    "action_mask": int8 (12,)}`` (PettingZoo's masking convention); every agent receives the team
    reward. Agents are named ``agent_i``; their types are in ``infos[agent]["type"]``.

    ``invalid_action`` says what an action outside the agent's mask does: ``"raise"`` (default)
    makes it an error, as in the team view RLlib trains on; ``"stay"`` carries it out as stay
    (0), for agents that sample their action spaces without the mask — random agents,
    PettingZoo's ``parallel_seed_test``, RLlib's ``check_multiagent_environments``. In both
    modes every live agent must act, with an int in [0, 12) (``team.check_agent_actions``).
    """

    metadata = {
        "name": "savethecity_v0",
        "render_modes": list(RENDER_MODES),
        "is_parallelizable": True,
        "render_fps": 5,
    }

    def __init__(
        self,
        scenario: str = "7a_7b",
        teams: str = "fixed",
        render_mode: str | None = None,
        invalid_action: str = "raise",
    ) -> None:
        self.core = CityCore(1, scenario=scenario, teams=teams)
        self._viewer = FrameViewer(render_mode, RENDER_MODES, self.metadata["render_fps"])
        self.render_mode = render_mode
        self.invalid_action = check_choice("invalid_action", invalid_action, ("raise", "stay"))
        self.possible_agents = list(self.core.agent_names)
        self.agents: list[str] = []
        # tells "before the first reset" from "episode over" (both have no live agents)
        self._started = False
        dim = N_FEATURES * (1 + self.core.n_entities)
        self._observation_space = spaces.Dict(
            {
                "observation": spaces.Box(-np.inf, np.inf, (dim,), np.float32),
                "action_mask": spaces.Box(0, 1, (N_ACTIONS,), np.int8),
            }
        )
        self._action_space = spaces.Discrete(N_ACTIONS)

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.core.reset(np.ones(1, bool), seed)
        self._started = True
        self.agents = [
            a for a, m in zip(self.possible_agents, self.core.agent_mask[0], strict=True) if m
        ]
        return self._observations(), self._infos()

    def step(self, actions: dict[str, int]):
        checked = check_agent_actions(actions, self.agents, N_ACTIONS, started=self._started)
        # the live agents are the first ones; the core ignores the padded agents' entries
        joint = np.zeros((1, self.core.n_agents), np.int64)
        joint[0, : len(checked)] = checked
        if self.invalid_action == "stay":
            available = np.take_along_axis(self.core.avail[0], joint[0, :, None], 1)[:, 0]
            joint[0] = np.where(available, joint[0], STAY)
        allocation = {"allocation": self.core.rule_allocation(), "action": joint}
        reward, terminated, truncated, infos = self.core.step(allocation, np.ones(1, bool))
        agents = self.agents
        observations, agent_infos = self._observations(), self._infos()
        for agent in agents:
            agent_infos[agent]["success"] = bool(infos["success"][0])
            agent_infos[agent]["fraction_completed"] = float(infos["fraction_completed"][0])
            agent_infos[agent]["fraction_burned"] = float(infos["fraction_burned"][0])
        rewards = dict.fromkeys(agents, float(reward[0]))
        terms = dict.fromkeys(agents, bool(terminated[0]))
        truncs = dict.fromkeys(agents, bool(truncated[0]))
        if terminated[0] or truncated[0]:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terms, truncs, agent_infos

    def heuristic_actions(self) -> dict[str, int]:
        """The scripted team's actions in the current state: each agent's rule action inside
        its rule-allocated subtask (re-allocated every step here)."""
        allocation = self.core.rule_allocation()[0]
        rule = self.core.rule_action()[0]
        return {agent: int(rule[i, allocation[i]]) for i, agent in enumerate(self.agents)}

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        ent = self.core.entity_features()[0]
        flat = ent.reshape(-1)
        mask = self.core.avail[0].astype(np.int8)
        return {
            agent: {"observation": np.concatenate([ent[i], flat]), "action_mask": mask[i]}
            for i, agent in enumerate(self.agents)
        }

    def _infos(self) -> dict[str, dict[str, Any]]:
        types = self.core.agent_type[0]
        return {agent: {"type": AGENT_TYPES[types[i]]} for i, agent in enumerate(self.agents)}

    def render(self) -> np.ndarray | None:
        return self._viewer.render(lambda: self.core.render(0))

    def close(self) -> None:
        self._viewer.close()


def parallel_env(**kwargs: Any) -> CityParallelEnv:
    """PettingZoo parallel env of one city (``scenario``, ``teams``, ``render_mode``, ...)."""
    return CityParallelEnv(**kwargs)


def env(**kwargs: Any):
    """PettingZoo AEC env of one city (the parallel env through ``parallel_to_aec``)."""
    return parallel_to_aec(parallel_env(**kwargs))
