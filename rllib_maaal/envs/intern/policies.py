"""Reference policies of the intern competition: the paper's baselines, a non-privileged rule on
the response record, the privileged :class:`OraclePlanner`, and :func:`evaluate` to run any of
them on a batch of cohorts (the figures of the calibration table in
:mod:`rllib_maaal.envs.intern.core`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rllib_maaal.envs.intern.core import (
    InternConfig,
    InternCore,
    intern_reward,
    message_push,
    next_state,
    obs_columns,
)
from rllib_maaal.grouping import max_weight_pairing

_RESPONSE = obs_columns(["response_0", "response_1"])
_EVIDENCE = obs_columns(["evidence_0", "evidence_1"])

#: A policy of the team view: (core, team observation) → team action.
Policy = Callable[[InternCore, dict[str, np.ndarray]], dict[str, np.ndarray]]


def fixed_policy(core: InternCore, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The paper's fixed baseline: always message 0, random pairing."""
    return {"allocation": obs["rule_allocation"], "action": np.zeros_like(core.types)}


def random_message_policy(core: InternCore, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The paper's random baseline: uniform random messages, random pairing."""
    return {
        "allocation": obs["rule_allocation"],
        "action": core.rng.integers(0, 2, core.types.shape),
    }


def response_policy(
    core: InternCore, obs: dict[str, np.ndarray], epsilon: float = 0.1
) -> dict[str, np.ndarray]:
    """A non-privileged reference that learns each intern's type from its response record.

    Every intern gets the message after which its wellbeing rose more so far (a message never
    sent is tried first), or a random one with probability ``epsilon``; random pairing. It only
    reads observations, so it shows what a learned low level can reach without the hidden types.
    """
    features = obs["obs"]
    response = features[..., _RESPONSE]
    evidence = features[..., _EVIDENCE]
    messages = np.where(evidence > 0, response, np.inf).argmax(-1)
    explore = core.rng.random(messages.shape) < epsilon
    messages = np.where(explore, core.rng.integers(0, 2, messages.shape), messages)
    return {"allocation": obs["rule_allocation"], "action": messages}


class OraclePlanner:
    """A privileged planner that shows the headroom of the task.

    It reads the hidden types (``know_types=True``: every intern gets its helpful message;
    otherwise always message 0) and, on every decision day, pairs teams by a one-week lookahead:
    the value of pair {i, j} is the noise-free simulation of teams i and j meeting for the week
    (the dynamics of a pair involve only its two teams), the value of i alone that of i sitting
    out; the best pairing is the exact maximum-weight matching of these values
    (:func:`rllib_maaal.grouping.max_weight_pairing`). ``pair=False`` keeps the random pairing.
    """

    def __init__(self, know_types: bool = True, pair: bool = True) -> None:
        self.know_types = know_types
        self.pair = pair

    def messages(self, core: InternCore) -> np.ndarray:
        """(B, N) the messages of the week: the helpful one per intern, or always 0."""
        return core.types.copy() if self.know_types else np.zeros_like(core.types)

    def pair_values(self, core: InternCore) -> np.ndarray:
        """(B, T, T) one-week noise-free lookahead value of every pair and self-pair."""
        cfg = core.cfg
        b, t, k = core.num_envs, core.n_teams, cfg.team_size
        x = core.x.reshape(b, t, k)
        base = core.baseline.reshape(b, t, k)
        push = message_push(cfg, self.messages(core), core.types).reshape(b, t, k)
        i, j = np.triu_indices(t, 1)
        # Each pair {i < j} as a group of two teams that meet (B, pairs, 2, K); alone (B, T, 1, K).
        pairs = [np.stack([a[:, i], a[:, j]], axis=2) for a in (x, base, push)]
        pair_reward = self._rollout(cfg, *pairs, partners=np.array([1, 0]))
        alone = [a[:, :, None] for a in (x, base, push)]
        alone_reward = self._rollout(cfg, *alone, partners=np.array([0]))
        values = np.zeros((b, t, t))
        values[:, i, j] = values[:, j, i] = pair_reward.sum(-1)
        values[:, np.arange(t), np.arange(t)] = alone_reward[..., 0]
        return values / core.n_interns

    @staticmethod
    def _rollout(
        cfg: InternConfig, x: np.ndarray, base: np.ndarray, push: np.ndarray, partners: np.ndarray
    ) -> np.ndarray:
        """Summed intern reward per team over one noise-free week of isolated groups of teams."""
        partners = np.broadcast_to(partners, x.shape[:-1])
        total = np.zeros(x.shape[:-1])
        for _ in range(cfg.days_per_week):
            x = next_state(cfg, x, base, partners, push)
            total += intern_reward(cfg, x).sum(-1)
        return total

    def __call__(self, core: InternCore, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        allocation = obs["rule_allocation"]
        if self.pair and core.decide.any():
            allocation = max_weight_pairing(self.pair_values(core), core.cfg.allow_self)
        return {"allocation": allocation, "action": self.messages(core)}


def evaluate(
    policy: Policy, config: InternConfig | None = None, episodes: int = 64, seed: int = 0
) -> dict[str, float]:
    """Run ``episodes`` cohorts in one batched core; both metrics with their standard errors."""
    core = InternCore(config or InternConfig(), num_envs=episodes, seed=seed)
    which = np.ones(episodes, bool)
    core.reset(which)
    for _ in range(core.cfg.horizon):
        _, _, _, infos = core.step(policy(core, core.observe()), which)
    average, discounted = infos["avg_reward_per_intern_day"], infos["discounted_return"]
    return {
        "avg_reward_per_intern_day": float(average.mean()),
        "avg_reward_sem": float(average.std(ddof=1) / np.sqrt(episodes)),
        "discounted_return": float(discounted.mean()),
        "discounted_return_sem": float(discounted.std(ddof=1) / np.sqrt(episodes)),
    }
