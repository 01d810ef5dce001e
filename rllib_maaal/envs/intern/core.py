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
- :func:`~rllib_maaal.envs.intern.team.make_team_env` is the team view for RLlib
  (``env: maaal/intern``): N = T·K interns, A = 2 messages, U = T allocation units (teams),
  M = T subtasks ("compete with team m"), ``allocation[t]`` = partner of team t, adopted on the
  first day of every week.
- :func:`~rllib_maaal.envs.intern.pettingzoo.parallel_env` / ``env`` are the PettingZoo views:
  one agent per intern, a daily Discrete(2) message. The weekly pairing is not an agent action
  there (see :class:`~rllib_maaal.envs.intern.pettingzoo.InternParallelEnv`).
- :mod:`~rllib_maaal.envs.intern.policies`: ``OraclePlanner`` knows the hidden types and shows
  the headroom; ``fixed_policy``, ``random_message_policy`` and ``response_policy`` are the
  non-privileged references, and ``evaluate`` runs any of them on a batch of cohorts.
- Observation features are addressed by name: ``obs[..., OBS_COLUMN["team"]]``,
  :func:`obs_columns`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rllib_maaal.envs.intern.render import render_intern
from rllib_maaal.envs.team import (
    check_actions,
    check_env_config_keys,
    check_running,
    integer_array,
    team_action_space,
    team_observation_space,
)
from rllib_maaal.grouping import check_pairing, random_pairing

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
#: Column of each feature in ``obs``: ``obs[..., OBS_COLUMN["team"]]``.
OBS_COLUMN = {name: column for column, name in enumerate(OBS_FEATURES)}


def obs_columns(names: Sequence[str]) -> list[int]:
    """The ``obs`` columns of the features ``names`` (of ``OBS_FEATURES``), in that order.

    Raises a ``ValueError`` naming the first unknown feature and listing the valid names."""
    unknown = [name for name in names if name not in OBS_COLUMN]
    if unknown:
        raise ValueError(
            f"intern observation feature must be one of {', '.join(OBS_FEATURES)}; got "
            f"{unknown[0]!r}"
        )
    return [OBS_COLUMN[name] for name in names]


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

    #: Observation keys fixed for a whole episode (stored once per episode by the replay).
    constant_keys = ("subtask_type", "subtask_action_mask", "agent_unit")

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
        response = self.response()
        evidence = self.response_count * (1 - cfg.response_memory)
        # scalars per cohort broadcast over its interns
        features = {
            "wellbeing": self.x,
            "last_message": self.last_message,
            "team_mean": mean[:, self.agent_unit],
            "team_std": std[:, self.agent_unit],
            "competing": opponent != self.agent_unit,
            "opponent_mean": mean[self._rows, opponent],
            "day_of_week": (self.day % cfg.days_per_week / cfg.days_per_week)[:, None],
            "progress": (self.day / cfg.horizon)[:, None],
            "team": self.agent_unit,
            "opponent": opponent,
            "wellbeing_change": self.change,
            "response_0": response[..., 0],
            "response_1": response[..., 1],
            "evidence_0": evidence[..., 0],
            "evidence_1": evidence[..., 1],
        }
        out = np.empty((*self.x.shape, len(OBS_FEATURES)), np.float32)
        for column, name in enumerate(OBS_FEATURES):
            out[..., column] = features[name]
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
        """An RGB frame of cohort ``index`` (:mod:`rllib_maaal.envs.intern.render`)."""
        return render_intern(self, index)
