"""The intern team competition (after the Intern Health Study setting of Hu, arXiv 2501.06554).

T teams of K medical interns are followed for W weeks of 7 days, one step a day. Every day each
intern gets one of two kinds of phone message; every week the teams are paired for a competition
(a team paired with itself sits the week out). The goal is to keep every intern's wellbeing at or
above a target. The paper's dynamics are not public: this simulator is our own, documented here
and calibrated (default :class:`InternConfig`) so that the paper's two baselines land on its
figures (see "Calibration" below).

Dynamics
--------
Intern i belongs to team g(i) = i // K, has a wellbeing state x_i, a personal baseline μ_i, and a
hidden responsiveness type τ_i ∈ {0, 1}: message τ_i helps it, the other message hurts it. With
message a_i, the team mean x̄_g, the partner p = partner(g) of its team and the competition flag
c_g = 1[p ≠ g], one day is

    h_i   = +η_help if a_i = τ_i else −η_hurt                        (message response)
    Δ_g   = x̄_p − x̄_g                                               (gap to the opponent)
    m_g   = c_g · β · (exp(−Δ_g² / (2 w²)) − ζ)                       (competition effect)
    x_i' = x_i + ρ (μ_i − x_i) + κ_team (x̄_g − x_i) + c_g κ_opp (x̄_p − x_i) + m_g + h_i + σ ε_i

with ε_i ~ N(0, 1). The competition effect is what makes WHICH teams meet matter: well-matched
teams (|Δ| ≲ w) motivate each other (m ≈ β(1 − ζ) > 0); badly mismatched teams do not, and are
even slightly discouraged (m → −βζ), so sitting a week out can beat a lopsided match. The pull
toward the opponent's level lifts the weaker team and drags the stronger one (zero-sum on the
mean, but not on the convex cost below).

Initial state: μ_i = μ₀ + (team offset ~ N(0, σ_team²)) + (own offset ~ N(0, σ_intern²)),
τ_i ~ Bernoulli(p_type1), x_i(0) = μ_i + σ_init ε. The dynamics are fast (ρ + κ_team ≈ 0.8 per
day), so a policy's level is reached within days and the 0.9-discounted return, which weighs the
first ~10 days, still reflects it.

Observation
-----------
What a real study records (``OBS_FEATURES``): the intern's wellbeing, its change since yesterday
and the last message; its team's mean and spread; whether the team competes, the opponent's mean
and both team ids; the day of the week and the progress of the study. The type τ_i is hidden, but
the study also keeps each intern's *response record*: for each message a, the discounted count
n_a ← δ n_a + 1[a_i = a] and the discounted mean of the next-day change after it,
response_a = (Σ δ^k Δx after a) / n_a, with δ = ``response_memory``. A memoryless policy can read
the type off this record (:func:`response_policy` does, with a simple rule).

Reward
------
Per intern per day, on the state after the step: r_i = −λ · max(x* − x_i', 0)². The team-view
reward is the mean over interns, so an episode's return is in the paper's units.

Metrics (the two figures of the paper's table, reported for every policy):

- average reward per intern-day: (1 / (H N)) Σ_t Σ_i r_{i,t}, H = 7 W days;
- 0.9-discounted return: Σ_{t=0}^{H−1} 0.9^t · (1/N) Σ_i r_{i,t} (from day 0), averaged over
  episodes (equivalently the discounted sum of each intern's rewards, averaged over interns).

Both are accumulated by the core and reported in the step infos.

Calibration (default config, 26 weeks; see tests/envs/test_intern.py)
---------------------------------------------------------------------
==========================================  ========================  =========================
policy                                      avg reward / intern-day   0.9-discounted return
==========================================  ========================  =========================
paper: always message 0, random pairing     −259.87                   −2601.24
paper: random messages, random pairing      −248.91                   −2495.50
paper: learned hierarchical method          −143.04                   −1436.97
ours: always message 0, random pairing      −258.65 ± 2.02            −2598.3 ± 19.6
ours: random messages, random pairing       −250.17 ± 1.74            −2529.0 ± 17.8
ours: response record, random pairing       −129.13 ± 1.26            −1704.3 ± 14.6
ours: oracle messages, random pairing       −112.99 ± 1.17            −1250.9 ± 12.3
ours: message 0, oracle pairing             −212.98 ± 1.70            −2191.7 ± 16.8
ours: oracle messages and pairing           −88.93 ± 0.96             −1017.9 ± 10.2
==========================================  ========================  =========================

(1024 cohorts, seed 0, ± one standard error; ``benchmarks/intern_env.py`` prints this table.)
The oracles (:class:`OraclePlanner`) read the hidden types: with the right messages AND a
lookahead pairing the cost is 66 % below the fixed baseline (the paper's learned method: 45 %);
pairing alone, with messages fixed, saves 18 % of the cost of random pairing — grouping matters.
The response-record rule, which sees only observations, is 50 % below the fixed baseline with
random pairing. Calibration knobs: ``cost_scale`` sets the fixed baseline's level; the asymmetry
``hurt`` > ``help`` the small gap between the two baselines (random messages hurt on average but
spread the interns less than a fixed message does, under a convex cost).

Interfaces
----------
- :class:`InternCore` simulates B cohorts at once (``BatchedCore`` of :mod:`rllib_maaal.envs.team`).
- :func:`make_team_env` is the team view for RLlib (``env: maaal/intern``): N = T·K interns,
  A = 2 messages, U = T allocation units (teams), M = T subtasks ("compete with team m"),
  ``allocation[t]`` = partner of team t, adopted on the first day of every week.
- :func:`parallel_env` / :func:`env` are the PettingZoo views: one agent per intern, a daily
  Discrete(2) message. The weekly pairing is not an agent action there (see
  :class:`InternParallelEnv`).
- :class:`OraclePlanner` knows the hidden types and shows the headroom; :func:`fixed_policy`,
  :func:`random_message_policy` and :func:`response_policy` are the non-privileged references,
  and :func:`evaluate` runs any of them on a batch of cohorts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec, wrappers

from rllib_maaal.envs.team import (
    check_actions,
    check_agent_actions,
    check_env_config_keys,
    check_running,
    integer_array,
    team_action_space,
    team_env,
    team_observation_space,
)
from rllib_maaal.grouping import check_pairing, max_weight_pairing, random_pairing

#: Per-intern observation features (``obs`` of the team view, the PettingZoo observation).
OBS_FEATURES = (
    "wellbeing",  # x_i
    "last_message",  # a_i of the previous day (0 at reset)
    "team_mean",  # x̄_g
    "team_std",  # std of x within the team
    "competing",  # c_g
    "opponent_mean",  # x̄_p (own team mean when not competing)
    "day_of_week",  # d / 7
    "progress",  # t / H
    "team",  # g
    "opponent",  # p (= g when not competing)
    "wellbeing_change",  # x_i(t) − x_i(t − 1) (0 at reset)
    "response_0",  # running mean of the next-day change after message 0 (0 if never sent)
    "response_1",  # the same after message 1
    "evidence_0",  # (1 − δ) · discounted number of days message 0 was sent, in [0, 1]
    "evidence_1",  # the same for message 1
)
#: Per-team subtask status (``subtask_status`` row m describes team m).
STATUS_FEATURES = ("team_mean", "team_std", "size", "partner", "competing")

#: The discount of the paper's discounted-return metric.
METRIC_DISCOUNT = 0.9


@dataclass(frozen=True)
class InternConfig:
    """Every constant of the simulator (the defaults are the calibrated ones)."""

    n_teams: int = 8  # T
    team_size: int = 4  # K
    n_weeks: int = 26  # W; the horizon is H = 7 W days
    days_per_week: int = 7
    #: "allow_self": a team may sit a week out (paired with itself); "no_self": perfect matchings
    #: only (needs an even T).
    pairing_mode: Literal["allow_self", "no_self"] = "allow_self"
    type1_prob: float = 0.5  # P(τ_i = 1)
    baseline_mean: float = 0.0  # μ₀
    baseline_team_std: float = 0.3  # σ_team
    baseline_intern_std: float = 0.2  # σ_intern
    init_std: float = 0.3  # σ_init
    reversion: float = 0.5  # ρ
    help: float = 0.1  # η_help
    hurt: float = 0.25  # η_hurt
    team_pull: float = 0.3  # κ_team
    opponent_pull: float = 0.125  # κ_opp
    competition_boost: float = 0.25  # β
    match_width: float = 0.3  # w
    mismatch_penalty: float = 0.3  # ζ
    noise_std: float = 0.15  # σ
    target: float = 1.0  # x*
    cost_scale: float = 225.6  # λ
    response_memory: float = 0.95  # δ of the response record in the observation

    def __post_init__(self) -> None:
        for name in ("n_teams", "team_size", "n_weeks", "days_per_week"):
            if not isinstance(getattr(self, name), int | np.integer) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.pairing_mode not in ("allow_self", "no_self"):
            raise ValueError(
                f"pairing_mode must be 'allow_self' or 'no_self', got {self.pairing_mode!r}"
            )
        if self.pairing_mode == "no_self" and self.n_teams % 2:
            raise ValueError(
                f"pairing_mode='no_self' needs an even n_teams (perfect matchings), got "
                f"{self.n_teams}"
            )
        if self.n_teams < 2:
            raise ValueError(f"n_teams must be at least 2 for a competition, got {self.n_teams}")
        scalars = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.type == "float"
        }
        signed = ("baseline_mean", "target")  # levels; every other constant is a rate or a scale
        bad = [
            name
            for name, value in scalars.items()
            if not np.isfinite(value) or (name not in signed and value < 0)
        ]
        if bad:
            raise ValueError(f"{bad} must be finite (and non-negative, except {list(signed)})")
        if self.match_width <= 0 or self.cost_scale <= 0:
            raise ValueError("match_width and cost_scale must be positive")
        if not 0.0 <= self.type1_prob <= 1.0:
            raise ValueError(f"type1_prob must be in [0, 1], got {self.type1_prob}")
        if not 0.0 <= self.response_memory < 1.0:
            raise ValueError(f"response_memory must be in [0, 1), got {self.response_memory}")
        if not 0.0 < self.reversion + self.team_pull + self.opponent_pull < 1.0:
            raise ValueError(
                "reversion + team_pull + opponent_pull must be in (0, 1) for stable dynamics"
            )

    @property
    def n_interns(self) -> int:
        return self.n_teams * self.team_size

    @property
    def horizon(self) -> int:
        return self.n_weeks * self.days_per_week

    @property
    def allow_self(self) -> bool:
        return self.pairing_mode == "allow_self"

    @classmethod
    def from_dict(cls, config: dict[str, Any], extra: tuple[str, ...] = ()) -> InternConfig:
        """Build from an env_config, refusing unknown keys (``extra`` keys are skipped)."""
        fields = [f.name for f in dataclasses.fields(cls)]
        check_env_config_keys("intern", config, [*fields, *extra])
        return cls(**{k: v for k, v in config.items() if k in fields})


def next_state(
    cfg: InternConfig,
    x: np.ndarray,
    baseline: np.ndarray,
    partners: np.ndarray,
    push: np.ndarray,
    noise: np.ndarray | float = 0.0,
) -> np.ndarray:
    """One day of the dynamics (module docstring) for teams laid out as (..., T', K).

    ``partners`` (..., T') indexes the team axis, ``push`` (..., T', K) is the message response
    h_i. The team axis may be any subset of teams that only meet each other (the planner's
    lookahead simulates every pair on its own).
    """
    team_mean = x.mean(-1)
    opp_mean = np.take_along_axis(team_mean, partners, axis=-1)
    competing = partners != np.arange(partners.shape[-1])
    gap = opp_mean - team_mean
    motivation = (
        competing
        * cfg.competition_boost
        * (np.exp(-(gap**2) / (2 * cfg.match_width**2)) - cfg.mismatch_penalty)
    )
    toward_team = cfg.team_pull * (team_mean[..., None] - x)
    toward_opponent = cfg.opponent_pull * competing[..., None] * (opp_mean[..., None] - x)
    return (
        x
        + cfg.reversion * (baseline - x)
        + toward_team
        + toward_opponent
        + motivation[..., None]
        + push
        + cfg.noise_std * noise
    )


def intern_reward(cfg: InternConfig, x: np.ndarray) -> np.ndarray:
    """r_i = −λ · max(x* − x_i, 0)²."""
    return -cfg.cost_scale * np.maximum(cfg.target - x, 0.0) ** 2


def message_push(cfg: InternConfig, messages: np.ndarray, types: np.ndarray) -> np.ndarray:
    """h_i: +η_help when the message matches the intern's type, −η_hurt otherwise."""
    return np.where(messages == types, cfg.help, -cfg.hurt)


class InternCore:
    """B cohorts of the intern competition simulated at once (the ``BatchedCore`` protocol).

    Arrays are (B, N) over interns, ordered by team (intern i is in team i // K), or (B, T) over
    teams. The hidden ``types`` are attributes for privileged planners only; they never appear in
    an observation.
    """

    def __init__(self, config: InternConfig, num_envs: int = 1, seed: int | None = None) -> None:
        self.cfg = config
        self.num_envs = num_envs
        n, t = config.n_interns, config.n_teams
        self.n_interns, self.n_teams = n, t
        self.agent_unit = np.arange(n) // config.team_size
        self.single_observation_space = team_observation_space(
            n_agents=n,
            obs_dim=len(OBS_FEATURES),
            state_dim=2 * n + t + 2,
            n_actions=2,
            n_subtasks=t,
            status_dim=len(STATUS_FEATURES),
            n_subtask_types=1,
            n_units=t,
        )
        self.single_action_space = team_action_space(
            n_agents=n, n_actions=2, n_subtasks=t, n_units=t
        )
        self.agent_names = [f"intern_{i}" for i in range(n)]
        self.rng = np.random.default_rng(seed)
        b = num_envs
        self.x = np.zeros((b, n))
        self.baseline = np.zeros((b, n))
        self.types = np.zeros((b, n), np.int64)
        self.last_message = np.zeros((b, n), np.int64)
        self.change = np.zeros((b, n))
        self.response_sum = np.zeros((b, n, 2))
        self.response_count = np.zeros((b, n, 2))
        self.partners = np.tile(np.arange(t), (b, 1))
        self.rule_partners = self.partners.copy()
        self.day = np.zeros(b, np.int64)
        self.reward_sum = np.zeros(b)
        self.discounted_return = np.zeros(b)
        self.ended = np.ones(b, bool)  # episode over (or never started): reset before stepping
        self._all_ones = np.ones((b, n, 2), np.float32)
        self._agent_mask = np.ones((b, n), np.float32)
        self._rows = np.arange(b)[:, None]

    # -- episode control -------------------------------------------------------------------
    def reset(self, which: np.ndarray, seed: int | None = None) -> None:
        """New cohorts where ``which`` is True: baselines, hidden types, initial states."""
        cfg = self.cfg
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        b, n, t, k = self.num_envs, self.n_interns, self.n_teams, cfg.team_size
        team_offset = np.repeat(self.rng.normal(0.0, cfg.baseline_team_std, (b, t)), k, axis=1)
        own_offset = self.rng.normal(0.0, cfg.baseline_intern_std, (b, n))
        baseline = cfg.baseline_mean + team_offset + own_offset
        types = (self.rng.random((b, n)) < cfg.type1_prob).astype(np.int64)
        x0 = baseline + cfg.init_std * self.rng.standard_normal((b, n))
        rule = random_pairing(self.rng, b, t, cfg.allow_self)
        w = which[:, None]
        self.baseline = np.where(w, baseline, self.baseline)
        self.types = np.where(w, types, self.types)
        self.x = np.where(w, x0, self.x)
        self.last_message = np.where(w, 0, self.last_message)
        self.change = np.where(w, 0.0, self.change)
        self.response_sum = np.where(w[..., None], 0.0, self.response_sum)
        self.response_count = np.where(w[..., None], 0.0, self.response_count)
        self.rule_partners = np.where(w, rule, self.rule_partners)
        # Before the first decision no team competes (or, without self-pairs, the rule pairing).
        idle = np.arange(t) if cfg.allow_self else rule
        self.partners = np.where(w, idle, self.partners)
        self.day = np.where(which, 0, self.day)
        self.reward_sum = np.where(which, 0.0, self.reward_sum)
        self.discounted_return = np.where(which, 0.0, self.discounted_return)
        self.ended = self.ended & ~which

    @property
    def decide(self) -> np.ndarray:
        """(B,) True on the first day of a week, when a new pairing is adopted."""
        return self.day % self.cfg.days_per_week == 0

    def step(
        self, action: dict[str, np.ndarray], which: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One day for the cohorts where ``which`` is True (see the module docstring)."""
        cfg = self.cfg
        check_running("cohort", which, self.ended)
        messages = integer_array("actions", action["action"])
        check_actions(messages, self._all_ones, self._agent_mask, self.agent_names)
        adopt = which & self.decide
        if adopt.any():
            allocation = integer_array("allocation", action["allocation"]).reshape(
                self.num_envs, self.n_teams
            )
            # Rows that do not decide keep their (valid) pairing, so an error names the env index.
            allocation = np.where(adopt[:, None], allocation, self.partners)
            self.partners = check_pairing(allocation, self.n_teams, cfg.allow_self)

        shape = (self.num_envs, self.n_teams, cfg.team_size)
        noise = self.rng.standard_normal(self.x.shape)
        x_next = next_state(
            cfg,
            self.x.reshape(shape),
            self.baseline.reshape(shape),
            self.partners,
            message_push(cfg, messages, self.types).reshape(shape),
            noise.reshape(shape),
        ).reshape(self.x.shape)
        reward = intern_reward(cfg, x_next)

        w = which[:, None]
        self.change = np.where(w, x_next - self.x, self.change)
        self.x = np.where(w, x_next, self.x)
        self.last_message = np.where(w, messages, self.last_message)
        # The response record: discounted sums of the change seen after each message.
        sent = (messages[..., None] == np.arange(2)) & w[..., None]
        keep = np.where(w, cfg.response_memory, 1.0)[..., None]
        self.response_count = keep * self.response_count + sent
        self.response_sum = keep * self.response_sum + sent * self.change[..., None]
        team_reward = reward.mean(-1)
        self.reward_sum += np.where(which, team_reward, 0.0)
        self.discounted_return += np.where(which, METRIC_DISCOUNT**self.day * team_reward, 0.0)
        self.day = self.day + which
        truncated = which & (self.day >= cfg.horizon)
        self.ended = self.ended | truncated
        redraw = which & self.decide & ~truncated
        if redraw.any():
            rule = random_pairing(self.rng, self.num_envs, self.n_teams, cfg.allow_self)
            self.rule_partners[redraw] = rule[redraw]

        infos = {
            "subtask_reward": reward.reshape(shape).mean(-1),
            "intern_reward": reward,
            "reward_per_intern_day": team_reward,
            "avg_reward_per_intern_day": self.reward_sum / np.maximum(self.day, 1),
            "discounted_return": self.discounted_return.copy(),
        }
        return np.where(which, team_reward, 0.0), np.zeros_like(which), truncated, infos

    # -- observations ----------------------------------------------------------------------
    def team_summary(self) -> tuple[np.ndarray, np.ndarray]:
        """(B, T) mean and std of wellbeing in each team."""
        x = self.x.reshape(self.num_envs, self.n_teams, self.cfg.team_size)
        return x.mean(-1), x.std(-1)

    def intern_features(self) -> np.ndarray:
        """(B, N, len(OBS_FEATURES)) what each intern observes (never its type)."""
        cfg = self.cfg
        mean, std = self.team_summary()
        opponent = self.partners[:, self.agent_unit]
        out = np.empty((*self.x.shape, len(OBS_FEATURES)), np.float32)
        # Columns in the order of OBS_FEATURES; scalars per cohort broadcast over its interns.
        out[..., 0] = self.x
        out[..., 1] = self.last_message
        out[..., 2] = mean[:, self.agent_unit]
        out[..., 3] = std[:, self.agent_unit]
        out[..., 4] = opponent != self.agent_unit
        out[..., 5] = mean[self._rows, opponent]
        out[..., 6] = (self.day % cfg.days_per_week / cfg.days_per_week)[:, None]
        out[..., 7] = (self.day / cfg.horizon)[:, None]
        out[..., 8] = self.agent_unit
        out[..., 9] = opponent
        out[..., 10] = self.change
        out[..., 11:13] = self.response()
        out[..., 13:15] = self.response_count * (1 - cfg.response_memory)
        return out

    def response(self) -> np.ndarray:
        """(B, N, 2) running mean of the next-day change after each message (0 if never sent)."""
        tried = self.response_count > 0
        return np.where(tried, self.response_sum / np.where(tried, self.response_count, 1.0), 0.0)

    def global_state(self) -> np.ndarray:
        """(B, 2N + T + 2): wellbeing, last messages, partners, day of week, progress."""
        cfg = self.cfg
        return np.concatenate(
            [
                self.x,
                self.last_message,
                self.partners,
                (self.day % cfg.days_per_week / cfg.days_per_week)[:, None],
                (self.day / cfg.horizon)[:, None],
            ],
            axis=1,
        ).astype(np.float32)

    def observe(self) -> dict[str, np.ndarray]:
        """The team view (:mod:`rllib_maaal.envs.team`): a subtask per team, a unit per team."""
        b, n, t = self.num_envs, self.n_interns, self.n_teams
        mean, std = self.team_summary()
        status = np.stack(
            [
                mean,
                std,
                np.ones_like(mean),
                self.partners,
                self.partners != np.arange(t),
            ],
            -1,
        ).astype(np.float32)
        rule_action = np.zeros((b, n, t), np.int64)
        return {
            "obs": self.intern_features(),
            "state": self.global_state(),
            "agent_mask": self._agent_mask.copy(),
            "action_mask": self._all_ones.copy(),
            "subtask_status": status,
            "subtask_type": np.zeros((b, t), np.int64),
            "subtask_active": np.ones((b, t), np.float32),
            "subtask_action_mask": np.ones((b, t, 2), np.float32),
            "allocation": self.partners.copy(),
            "decide": self.decide[:, None].astype(np.float32),
            "rule_allocation": self.rule_partners.copy(),
            "rule_action": rule_action,
            "agent_unit": np.tile(self.agent_unit, (b, 1)),
        }

    def render(self, index: int = 0) -> np.ndarray:
        """A bar per intern (height = wellbeing, colour = team), the target as a white line."""
        cfg = self.cfg
        height, bar = 120, 6
        lo, hi = cfg.target - 3.0, cfg.target + 1.0
        level = (np.clip((self.x[index] - lo) / (hi - lo), 0, 1) * (height - 1)).astype(int)
        rows = np.arange(height)[::-1, None]
        filled = np.repeat(rows <= level[None, :], bar, axis=1)
        hue = 2 * np.pi * (np.arange(cfg.n_teams)[:, None] / cfg.n_teams + np.array([0, 1, 2]) / 3)
        palette = 127.5 * (1 + np.cos(hue))  # (T, 3) evenly spread hues
        colour = np.repeat(palette[self.agent_unit], bar, axis=0)
        frame = np.where(filled[..., None], colour[None], 20).astype(np.uint8)
        target_row = height - 1 - int((cfg.target - lo) / (hi - lo) * (height - 1))
        frame[target_row] = 255
        return frame


# -- policies and planners ---------------------------------------------------------------------
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
    response = features[..., [OBS_FEATURES.index("response_0"), OBS_FEATURES.index("response_1")]]
    evidence = features[..., [OBS_FEATURES.index("evidence_0"), OBS_FEATURES.index("evidence_1")]]
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


# -- team view (RLlib) -------------------------------------------------------------------------
def make_team_env(config: dict[str, Any]) -> gym.Env | gym.vector.VectorEnv:
    """The team view for RLlib (``env: maaal/intern``); batched when ``num_envs`` is given.

    env_config keys: every :class:`InternConfig` field, plus ``num_envs``, ``seed`` and
    ``render_mode``. Decisions: ``decide`` is 1 on the first day of each week; ``allocation`` must
    then be a valid pairing (symmetric, in range, self-pairs only with ``allow_self``), otherwise
    ``step`` raises a ``ValueError``. ``rule_allocation`` is a uniformly random maximal pairing
    redrawn every week (one team sits out when T is odd), ``rule_action`` is message 0.
    """
    config = dict(config)
    cfg = InternConfig.from_dict(config, extra=("num_envs", "seed", "render_mode"))
    num_envs = config.get("num_envs")
    core = InternCore(cfg, num_envs=num_envs or 1, seed=config.get("seed"))
    return team_env(core, batched=num_envs is not None, render_mode=config.get("render_mode"))


def check_env_config(config: dict[str, Any]) -> tuple[spaces.Space, spaces.Space]:
    """Validate a ``maaal/intern`` env_config; the team view's observation and action spaces."""
    env = make_team_env({k: v for k, v in config.items() if k != "num_envs"})
    return env.observation_space, env.action_space


# -- PettingZoo --------------------------------------------------------------------------------
class InternParallelEnv(ParallelEnv):
    """PettingZoo view: one agent per intern (``intern_<i>``), a daily Discrete(2) message.

    The weekly pairing is part of the joint action but not of any intern's action. It is driven
    by ``pairing``:

    - ``"random"``: the env draws a uniformly random pairing every week (the paper's baseline);
    - ``"given"``: the caller supplies it, with ``set_pairing(partners)`` (or
      ``reset(options={"pairing": partners})``); it is validated at once and adopted on the next
      first day of a week, and stays in force until replaced (before any is given, the random
      pairing is used).

    We chose a method over an extra "coordinator" agent present only on week boundaries: in
    PettingZoo an agent leaves ``agents`` only by terminating or truncating and cannot come back
    (``parallel_api_test`` asserts both), so a weekly agent would have to stay live, acting on six
    days out of seven for nothing; and random-action tooling would feed it pairings that are
    invalid almost surely. Learned high levels drive the pairing through the team view instead.
    """

    metadata = {"render_modes": ["rgb_array"], "name": "intern_v0", "is_parallelizable": True}

    def __init__(
        self, render_mode: str | None = None, pairing: str = "random", **config: Any
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if pairing not in ("random", "given"):
            raise ValueError(f"pairing must be 'random' or 'given', got {pairing!r}")
        self.render_mode = render_mode
        self.pairing = pairing
        self.core = InternCore(InternConfig.from_dict(config), num_envs=1)
        self.possible_agents = list(self.core.agent_names)
        self.agents: list[str] = []
        # tells "before the first reset" from "episode over" (both have no live agents)
        self._started = False
        box = spaces.Box(-np.inf, np.inf, (len(OBS_FEATURES),), np.float32)
        self.observation_spaces = {a: box for a in self.possible_agents}
        self.action_spaces = {a: spaces.Discrete(2) for a in self.possible_agents}
        self.state_space = self.core.single_observation_space["state"]
        self._pending: np.ndarray | None = None
        self._one = np.ones(1, bool)

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def set_pairing(self, partners: np.ndarray) -> None:
        """Pairing for the next week (``pairing="given"``): ``partners[t]`` is team t's partner."""
        if self.pairing != "given":
            raise ValueError("set_pairing needs pairing='given' (this env draws random pairings)")
        self._pending = check_pairing(partners, self.core.n_teams, self.core.cfg.allow_self)

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        self.core.reset(self._one, seed)
        self._pending = None
        if options and "pairing" in options:
            self.set_pairing(options["pairing"])
        self._started = True
        self.agents = list(self.possible_agents)
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        # every intern is live until the horizon, so the checked messages are in intern order
        messages = check_agent_actions(actions, self.agents, 2, started=self._started)[None]
        allocation = self.core.rule_partners
        if self.pairing == "given" and self._pending is not None:
            allocation = self._pending[None]
        _, _, truncated, infos = self.core.step(
            {"allocation": allocation, "action": messages}, self._one
        )
        rewards = dict(zip(self.possible_agents, infos["intern_reward"][0].tolist(), strict=True))
        observations = self._observations()
        done = bool(truncated[0])
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
        team = self.core.agent_unit
        partners = self.core.partners[0]
        step_infos = {
            a: {"team": int(team[i]), "opponent": int(partners[team[i]])}
            for i, a in enumerate(self.agents)
        }
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, step_infos

    def _observations(self) -> dict[str, np.ndarray]:
        features = self.core.intern_features()[0]
        return dict(zip(self.possible_agents, features, strict=True))

    def state(self) -> np.ndarray:
        return self.core.global_state()[0]

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.core.render(0)
        return None


def parallel_env(render_mode: str | None = None, **kwargs: Any) -> InternParallelEnv:
    """The PettingZoo parallel env (keywords: ``pairing`` and any :class:`InternConfig` field)."""
    return InternParallelEnv(render_mode=render_mode, **kwargs)


def env(render_mode: str | None = None, **kwargs: Any):
    """The PettingZoo AEC env, with PettingZoo's standard safety wrappers."""
    aec = parallel_to_aec(parallel_env(render_mode=render_mode, **kwargs))
    return wrappers.OrderEnforcingWrapper(wrappers.AssertOutOfBoundsWrapper(aec))
