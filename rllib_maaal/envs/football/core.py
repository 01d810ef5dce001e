"""Google Research Football (11 vs 11) as a PettingZoo parallel env and as MAAAL's team view.

Our ten outfield players are the agents; the goalkeeper stays on the game's AI (the scenario is
loaded through a thin builder proxy that adds our keeper as not controllable, so the engine binds
one controller to each outfield player for the whole match instead of switching controllers
between players). The opponent is the built-in AI of the scenario (default
``11_vs_11_stochastic``). Actions are the engine's ``v2`` set: the 19 default actions plus
``builtin_ai`` (index 19), which lets the game's AI play that player for the step; that action is
how the Fixed-BT baseline plays.

The engine speaks the old ``gym`` API and returns, per step, one ``raw`` dictionary per player
(identical but for the player's index); we read the first one, turn it into per-agent features
and a global state with NumPy over players, and speak Gymnasium / PettingZoo outward. The reward
is the team's goal difference of the step (+1 we scored, -1 they scored), counted once, not once
per player as the engine reports it.

Per-agent observation, D = 35 + 4 (n_ours + n_theirs) = 123 in 11 vs 11 (positions in engine
units, directions scaled by ``DIRECTION_SCALE`` to order one), the agent's own facts first and
everything else relative to the agent:

* own position (2), direction (2), role one-hot (10: GK, CB, LB, RB, DM, CM, LM, RM, AM, CF),
  tiredness, yellow card, has the ball (1 each);
* ball minus own position (2), every team-mate minus own position (2 n_ours), every opponent
  minus own position (2 n_theirs);
* shared by all agents: ball height (1) and direction (3), team-mates' and opponents' directions,
  ball owner one-hot (none, us, them), game mode one-hot (7: normal, kick-off, goal kick, free
  kick, corner, throw-in, penalty), fraction of the match left, goal difference.

Global state, S = 18 + 5 n_ours + 4 n_theirs = 117: ball position and direction, our positions,
directions and tiredness, their positions and directions, then the same ball owner, game mode,
match left and goal difference.

Subtasks, their tree and action masks: :mod:`rllib_maaal.envs.football.zones`. The env config
(``env_config``) of :func:`~rllib_maaal.envs.football.pettingzoo.parallel_env` and
:func:`~rllib_maaal.envs.football.team.make_team_env`:

=======================  =========================  ==============================================
key                      default                    meaning
=======================  =========================  ==============================================
``scenario``             ``11_vs_11_stochastic``    any scenario of ``gfootball.scenarios``
``rewards``              ``scoring``                or ``scoring,checkpoints`` (engine shaping)
``tree``                 ``10_subtasks``            or ``6_subtasks``
``part``                 ``full``                   ``back`` / ``front`` fix the active part
``allocation_interval``  ``10``                     steps between allocation decisions (0: once)
``render_mode``          ``None``                   ``rgb_array``: ``render.PitchRenderer`` frames
``num_envs``             (absent)                   team view: a vector env of that many matches
``vectorize``            ``sync``                   or ``async`` (one process per match)
``seed``                 ``None``                   seeds the matches (match k of a vector env:
                                                    ``seed + k``); ``reset(seed=...)`` overrides
=======================  =========================  ==============================================

In the team view, ``infos`` hold the same engine facts as arrays and ``subtask_reward`` (M,): the
team reward credited to every active subtask (the goals are the team's, not a zone's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rllib_maaal.envs.football.engine import (
    gf_config,
    gf_football_env,
    gf_scenario_builder,
    gf_wrappers,
    keeper_on_ai_scenario,
)
from rllib_maaal.envs.football.zones import PARTS, TREES
from rllib_maaal.envs.team import check_allocation_interval, check_env_config_keys
from rllib_maaal.validation import check_choice

#: Directions are distances per step (~0.01): scaled to order one for the networks.
DIRECTION_SCALE = 100.0
N_ROLES = 10
N_GAME_MODES = 7
REWARDS = ("scoring", "scoring,checkpoints")
VECTORIZE = ("sync", "async")
DEFAULTS: dict[str, Any] = {
    "scenario": "11_vs_11_stochastic",
    "rewards": "scoring",
    "tree": "10_subtasks",
    "part": "full",
    "allocation_interval": 10,
    "render_mode": None,
    "vectorize": "sync",
    "seed": None,
}
CONFIG_KEYS = (*DEFAULTS, "num_envs")


def _validated(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with defaults filled in; a ValueError names any bad key or value."""
    check_env_config_keys("football", config, CONFIG_KEYS)
    config = {**DEFAULTS, **config}
    check_choice("scenario", config["scenario"], sorted(gf_scenario_builder.all_scenarios()))
    for key, allowed in (
        ("rewards", REWARDS),
        ("tree", TREES),
        ("part", PARTS),
        ("render_mode", (None, "rgb_array")),
        ("vectorize", VECTORIZE),
    ):
        check_choice(key, config[key], allowed)
    check_allocation_interval(config["allocation_interval"])
    return config


_ROLES, _GAME_MODES, _OWNERS = (np.eye(n, dtype=np.float32) for n in (N_ROLES, N_GAME_MODES, 3))


class FootballMatch:
    """One engine instance: steps it and turns its raw observation into arrays.

    Attributes after :meth:`reset` / :meth:`step`: ``obs`` (N, D) per-agent features, ``state``
    (S,), ``ours`` / ``theirs`` (players, 2) positions, ``ball`` (3,), ``ball_owner`` (-1 none,
    0 us, 1 them), ``score`` (2,), ``game_mode``, ``agent_mask`` (N,).
    """

    def __init__(self, scenario: str, rewards: str = "scoring", seed: int | None = None) -> None:
        level, layout = keeper_on_ai_scenario(scenario)
        self.players = np.array(layout.ours)  #: team index of each agent's player
        self.n_agents = len(self.players)
        if self.n_agents == 0:
            raise ValueError(f"scenario {scenario!r} gives us no outfield player to control")
        self.n_ours, self.n_theirs = layout.n_players
        self.game_duration = layout.config().game_duration
        self.config = gf_config.Config(
            {
                "level": level,
                "action_set": "v2",
                "players": [f"agent:left_players={self.n_agents}"],
                "dump_full_episodes": False,
                "dump_scores": False,
                "write_video": False,
            }
        )
        env = gf_football_env.FootballEnv(self.config)
        if "checkpoints" in rewards.split(","):
            env = gf_wrappers.CheckpointRewardWrapper(env)
        self.engine = env
        self.obs_dim = 17 + 9 + 4 * (self.n_ours + self.n_theirs) + N_GAME_MODES + 2
        self.state_dim = 9 + 5 * self.n_ours + 4 * self.n_theirs + N_GAME_MODES + 2
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Start a new match; the engine's random seed is drawn from our generator."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        engine_seed = int(self._rng.integers(2**31 - 1))
        # The engine's randomness follows this seed, the order in which teams are processed and
        # (in the stochastic scenarios) which team is built first, which follows the parity of
        # the episode number (the engine adds 1 to it in reset): all three derive from the seed.
        self.config["game_engine_random_seed"] = engine_seed
        self.config["reverse_team_processing"] = bool(engine_seed % 2)
        self.config["episode_number"] = engine_seed % 2 - 1
        raw = self.engine.reset()
        controlled = np.array([o["active"] for o in raw])
        if not np.array_equal(controlled, self.players):
            raise RuntimeError(
                f"the engine controls players {controlled.tolist()}, expected {self.players}"
            )
        self._read(raw[0])

    def step(self, actions: np.ndarray) -> tuple[float, bool]:
        """Play one step with ``actions`` (N,) in the v2 set; return team reward and done."""
        raw, reward, done, _ = self.engine.step(actions)
        self._read(raw[0])
        return float(reward[0]), bool(done)

    def _read(self, raw: dict[str, Any]) -> None:
        """Features of every agent at once from one player's raw observation."""
        self.raw = raw
        self.ours, self.theirs = raw["left_team"], raw["right_team"]
        self.ball = raw["ball"]
        self.ball_owner = int(raw["ball_owned_team"])
        self.score = np.asarray(raw["score"])
        self.game_mode = int(raw["game_mode"])
        self.agent_mask = raw["left_team_active"][self.players].astype(np.float32)
        ours_dir = raw["left_team_direction"].ravel() * DIRECTION_SCALE
        theirs_dir = raw["right_team_direction"].ravel() * DIRECTION_SCALE
        context = np.concatenate(
            [
                _OWNERS[self.ball_owner + 1],
                _GAME_MODES[self.game_mode],
                [raw["steps_left"] / self.game_duration, self.score[0] - self.score[1]],
            ]
        )
        me = self.ours[self.players]
        has_ball = (self.ball_owner == 0) & (raw["ball_owned_player"] == self.players)
        shared = np.concatenate(
            [self.ball[2:], raw["ball_direction"] * DIRECTION_SCALE, ours_dir, theirs_dir, context]
        )
        n = self.n_agents
        self.obs = np.concatenate(
            [
                me,
                raw["left_team_direction"][self.players] * DIRECTION_SCALE,
                _ROLES[raw["left_team_roles"][self.players]],
                raw["left_team_tired_factor"][self.players, None],
                raw["left_team_yellow_card"][self.players, None],
                has_ball[:, None],
                self.ball[None, :2] - me,
                (self.ours[None] - me[:, None]).reshape(n, -1),
                (self.theirs[None] - me[:, None]).reshape(n, -1),
                np.broadcast_to(shared, (n, shared.size)),
            ],
            axis=1,
            dtype=np.float32,
        )
        self.state = np.concatenate(
            [
                self.ball,
                raw["ball_direction"] * DIRECTION_SCALE,
                self.ours.ravel(),
                ours_dir,
                raw["left_team_tired_factor"],
                self.theirs.ravel(),
                theirs_dir,
                context,
            ],
            dtype=np.float32,
        )

    def close(self) -> None:
        self.engine.close()


def match_info(match: FootballMatch) -> dict[str, Any]:
    """The engine's per-step facts: score (ours, theirs), game mode and who owns the ball."""
    return {
        "score": match.score.copy(),
        "game_mode": match.game_mode,
        "ball_owned_team": match.ball_owner,
        "ball_owned_player": int(match.raw["ball_owned_player"]),
    }
