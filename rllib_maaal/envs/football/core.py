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

Subtasks, their tree and action masks: :mod:`rllib_maaal.envs.football_zones`. The env config
(``env_config``) of :func:`parallel_env` and :func:`make_team_env`:

=======================  =========================  ==============================================
key                      default                    meaning
=======================  =========================  ==============================================
``scenario``             ``11_vs_11_stochastic``    any scenario of ``gfootball.scenarios``
``rewards``              ``scoring``                or ``scoring,checkpoints`` (engine shaping)
``tree``                 ``10_subtasks``            or ``6_subtasks``
``part``                 ``full``                   ``back`` / ``front`` fix the active part
``allocation_interval``  ``10``                     steps between allocation decisions (0: once)
``render_mode``          ``None``                   ``rgb_array``: :class:`PitchRenderer` frames
``num_envs``             (absent)                   team view: a vector env of that many matches
``vectorize``            ``sync``                   or ``async`` (one process per match)
``seed``                 ``None``                   seeds the matches (match k of a vector env:
                                                    ``seed + k``); ``reset(seed=...)`` overrides
=======================  =========================  ==============================================

In the team view, ``infos`` hold the same engine facts as arrays and ``subtask_reward`` (M,): the
team reward credited to every active subtask (the goals are the team's, not a zone's).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import multiprocessing
import sys
import types
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec, wrappers

try:
    # gfootball needs the old gym (0.25), whose import prints a notice urging an upgrade to
    # gymnasium on every start; we use gymnasium everywhere else, so the notice is noise.
    with contextlib.redirect_stderr(io.StringIO()):
        importlib.import_module("gym")
    import gfootball_engine as libgame
    from gfootball.env import config as gf_config
    from gfootball.env import football_env as gf_football_env
    from gfootball.env import scenario_builder as gf_scenario_builder
    from gfootball.env import wrappers as gf_wrappers
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "the football task needs gfootball 2.10.2: run `bash docker/install-football.sh`"
    ) from error

from rllib_maaal.envs.football_zones import (
    BOX_X,
    BOX_Y,
    BUILTIN_AI,
    N_ACTIONS,
    PARTS,
    PITCH_X,
    PITCH_Y,
    STATUS_DIM,
    TREES,
    ZoneTree,
)
from rllib_maaal.envs.team import (
    SingleTeamEnv,
    check_actions,
    check_agent_actions,
    check_allocation_interval,
    check_env_config_keys,
    check_num_envs,
    check_running,
    integer_array,
    team_action_space,
    team_observation_space,
)
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


# --------------------------------------------------------------------------- scenario loading


class KeeperOnAI:
    """Scenario builder proxy: adds our goalkeeper as not controllable, records our players.

    With as many controllers as controllable players the engine binds controller i to the i-th
    controllable player for the whole match (no dynamic switching), so agent i is always the same
    outfield player.
    """

    def __init__(self, builder: Any) -> None:
        self._builder = builder
        self._team = libgame.e_Team.e_Left
        self.ours: list[int] = []  #: team indices of our controllable players
        self.n_players = [0, 0]  #: players per team (left = ours, right = theirs)

    def SetTeam(self, team: Any) -> None:  # noqa: N802 - the engine's builder API
        self._team = team
        self._builder.SetTeam(team)

    def AddPlayer(self, x, y, role, lazy=False, controllable=True) -> None:  # noqa: N802
        side = int(self._team != libgame.e_Team.e_Left)
        if side == 0:
            controllable = controllable and role != libgame.e_PlayerRole.e_PlayerRole_GK
            if controllable:
                self.ours.append(self.n_players[0])
        self.n_players[side] += 1
        self._builder.AddPlayer(x, y, role, lazy, controllable)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._builder, name)


class _DryRunBuilder:
    """Accepts a scenario's calls without an engine, to read its layout before building it."""

    def __init__(self) -> None:
        self._config = types.SimpleNamespace(game_duration=3000)

    def config(self) -> types.SimpleNamespace:
        return self._config

    def EpisodeNumber(self) -> int:  # noqa: N802
        return 0

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def keeper_on_ai_scenario(scenario: str) -> tuple[str, KeeperOnAI]:
    """Register ``gfootball.scenarios.maaal_<scenario>``, the scenario with our keeper on AI.

    Returns its name (the engine's ``level``) and its layout, read by a dry run without the
    engine: ``ours`` (team indices of our controllable players), ``n_players`` (per team) and
    ``config().game_duration``.
    """
    original = importlib.import_module(f"gfootball.scenarios.{scenario}")
    name = f"maaal_{scenario}"
    module = types.ModuleType(f"gfootball.scenarios.{name}")
    module.build_scenario = lambda builder: original.build_scenario(KeeperOnAI(builder))
    sys.modules[module.__name__] = module
    layout = KeeperOnAI(_DryRunBuilder())
    original.build_scenario(layout)
    return name, layout


# --------------------------------------------------------------------------- the match


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


# --------------------------------------------------------------------------- rendering

#: Pixels per engine unit of the 2-D renderer.
RENDER_SCALE = 240
_MARGIN = 0.06
_ZONE_COLOURS = np.array(  # no pure red or blue: those are the teams
    [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [188, 189, 34],
        [23, 190, 207],
        [255, 215, 0],
        [127, 127, 127],
    ],
    dtype=np.uint8,
)
OURS, THEIRS, BALL = [30, 80, 230], [220, 30, 30], [255, 255, 255]


def _to_pixels(xy: np.ndarray) -> np.ndarray:
    """(..., 2) engine coordinates → (..., 2) integer (row, column) pixels."""
    col = (xy[..., 0] + PITCH_X + _MARGIN) * RENDER_SCALE
    row = (xy[..., 1] + PITCH_Y + _MARGIN) * RENDER_SCALE
    return np.stack([row, col], -1).round().astype(np.int64)


def _disc(radius: int) -> np.ndarray:
    """(K, 2) pixel offsets of a filled disc."""
    grid = np.mgrid[-radius : radius + 1, -radius : radius + 1].reshape(2, -1).T
    return grid[(grid**2).sum(1) <= radius**2]


def _stamp(
    canvas: np.ndarray, centres: np.ndarray, offsets: np.ndarray, colours: np.ndarray
) -> None:
    """Paint a shape at every centre (P, 2) with per-centre colours (P, 3), all at once."""
    pixels = (centres[:, None, :] + offsets[None]).reshape(-1, 2)
    pixels = np.clip(pixels, 0, np.array(canvas.shape[:2]) - 1)
    canvas[pixels[:, 0], pixels[:, 1]] = np.repeat(colours, len(offsets), axis=0)


class PitchRenderer:
    """A fast top-down picture of the match from raw positions, drawn with NumPy.

    Zones of the tree are tinted in their colour (active ones stronger); our players are blue
    discs, filled with the colour of the zone they are allocated to when an allocation is given,
    with a white ring; opponents are red discs with a black ring; the ball is white.
    """

    def __init__(self, tree: ZoneTree) -> None:
        self.tree = tree
        height, width = _to_pixels(np.array([PITCH_X + _MARGIN, PITCH_Y + _MARGIN])) + 1
        self.shape = (height, width, 3)
        rows, cols = np.mgrid[:height, :width]
        xy = np.stack(
            [cols / RENDER_SCALE - PITCH_X - _MARGIN, rows / RENDER_SCALE - PITCH_Y - _MARGIN], -1
        )
        self._zone_of_pixel = tree.contains(xy).argmax(-1)  # (H, W)
        self._on_pitch = (np.abs(xy[..., 0]) <= PITCH_X) & (np.abs(xy[..., 1]) <= PITCH_Y)
        self._grass = np.where(self._on_pitch[..., None], [24, 66, 24], [12, 36, 12])
        self._lines = self._line_mask(xy)
        self._ring, self._dot, self._ball = _disc(7), _disc(5), _disc(3)

    @staticmethod
    def _line_mask(xy: np.ndarray) -> np.ndarray:
        """Touchlines, goal lines, halfway line and both penalty boxes."""
        x, y = np.abs(xy[..., 0]), np.abs(xy[..., 1])
        w = 1.5 / RENDER_SCALE
        border = ((np.abs(x - PITCH_X) < w) & (y <= PITCH_Y)) | (
            (np.abs(y - PITCH_Y) < w) & (x <= PITCH_X)
        )
        halfway = (np.abs(xy[..., 0]) < w) & (y <= PITCH_Y)
        box = ((np.abs(x - BOX_X) < w) & (y <= BOX_Y)) | (
            (np.abs(y - BOX_Y) < w) & (x >= BOX_X) & (x <= PITCH_X)
        )
        return border | halfway | box

    def render(
        self,
        ours: np.ndarray,
        theirs: np.ndarray,
        ball: np.ndarray,
        active: np.ndarray,
        allocation: np.ndarray | None = None,
        agents: np.ndarray | None = None,
    ) -> np.ndarray:
        """An (H, W, 3) uint8 frame; ``allocation`` (N,) zones of our players ``agents`` (N,)."""
        tint = np.where(active[:, None], 0.45, 0.15) * _ZONE_COLOURS[: self.tree.n_subtasks]
        tint = tint[self._zone_of_pixel] * self._on_pitch[..., None]
        frame = (self._grass + tint).astype(np.uint8)
        frame[self._lines] = 235
        fill = np.tile(np.array(OURS, np.uint8), (len(ours), 1))
        if allocation is not None:
            fill[agents] = _ZONE_COLOURS[allocation % len(_ZONE_COLOURS)]
        _stamp(frame, _to_pixels(ours), self._ring, np.full((len(ours), 3), 255))
        _stamp(frame, _to_pixels(ours), self._dot, fill)
        _stamp(frame, _to_pixels(theirs), self._ring, np.zeros((len(theirs), 3)))
        _stamp(frame, _to_pixels(theirs), self._dot, np.tile(THEIRS, (len(theirs), 1)))
        _stamp(frame, _to_pixels(ball[None, :2]), self._ball, np.array([BALL]))
        return frame


# --------------------------------------------------------------------------- PettingZoo


class FootballParallelEnv(ParallelEnv):
    """Our outfield players as PettingZoo agents (``player_<team index>``), one match per reset.

    Rewards are the team reward for every agent; infos carry the engine's score, game mode and
    ball owner. A match ends (termination) at full time.
    """

    metadata = {
        "name": "football_v0",
        "render_modes": ["rgb_array"],
        "is_parallelizable": True,
        "render_fps": 10,
    }

    def __init__(self, render_mode: str | None = None, **env_config: Any) -> None:
        config = _validated({**env_config, "render_mode": render_mode})
        self.env_config = config
        self.render_mode = render_mode
        self.match = FootballMatch(config["scenario"], config["rewards"], config["seed"])
        self.possible_agents = [f"player_{k}" for k in self.match.players]
        self.agents: list[str] = []
        # tells "before the first reset" from "episode over" (both have no live agents)
        self._started = False
        self._observation_space = spaces.Box(-np.inf, np.inf, (self.match.obs_dim,), np.float32)
        self._action_space = spaces.Discrete(N_ACTIONS)
        self.state_space = spaces.Box(-np.inf, np.inf, (self.match.state_dim,), np.float32)
        self._renderer: PitchRenderer | None = None

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.match.reset(seed)
        self._started = True
        self.agents = list(self.possible_agents)
        return self._observations(), self._infos()

    def step(self, actions: dict[str, int]):
        # checked before the engine sees them: it would take a float or a bool as an action
        joint = check_agent_actions(actions, self.agents, N_ACTIONS, started=self._started)
        reward, done = self.match.step(joint)
        observations, infos = self._observations(), self._infos()
        rewards = dict.fromkeys(self.agents, reward)
        terminations = dict.fromkeys(self.agents, done)
        truncations = dict.fromkeys(self.agents, False)
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _observations(self) -> dict[str, np.ndarray]:
        return dict(zip(self.possible_agents, self.match.obs, strict=True))

    def _infos(self) -> dict[str, dict[str, Any]]:
        info = match_info(self.match)
        return {agent: info for agent in self.possible_agents}

    def state(self) -> np.ndarray:
        return self.match.state

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; use render_mode='rgb_array'")
            return None
        if self._renderer is None:
            self._renderer = PitchRenderer(ZoneTree(self.env_config["tree"]))
        tree = self._renderer.tree
        active = tree.active(self.match.ball[None, :2], self.env_config["part"])[0]
        return self._renderer.render(self.match.ours, self.match.theirs, self.match.ball, active)

    def close(self) -> None:
        self.match.close()


def match_info(match: FootballMatch) -> dict[str, Any]:
    """The engine's per-step facts: score (ours, theirs), game mode and who owns the ball."""
    return {
        "score": match.score.copy(),
        "game_mode": match.game_mode,
        "ball_owned_team": match.ball_owner,
        "ball_owned_player": int(match.raw["ball_owned_player"]),
    }


def parallel_env(render_mode: str | None = None, **env_config: Any) -> FootballParallelEnv:
    """The PettingZoo parallel env (see the module docstring for ``env_config``)."""
    return FootballParallelEnv(render_mode=render_mode, **env_config)


def env(render_mode: str | None = None, **env_config: Any):
    """The PettingZoo AEC env: :func:`parallel_env` turned turn-based, with PettingZoo's checks."""
    aec = parallel_to_aec(parallel_env(render_mode=render_mode, **env_config))
    return wrappers.OrderEnforcingWrapper(wrappers.AssertOutOfBoundsWrapper(aec))


# --------------------------------------------------------------------------- team view


class FootballTeamCore:
    """The team view of one match (the engine is not batchable: ``num_envs`` is 1).

    Implements :class:`rllib_maaal.envs.team.BatchedCore`; keeps the allocation in force and
    decides when a new one is due: every ``allocation_interval`` steps, and whenever the set of
    active subtasks changes (``allocation_interval=0``: only at kick-off, for static allocation).
    """

    num_envs = 1

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = _validated(config)
        self.match = FootballMatch(
            self.config["scenario"], self.config["rewards"], self.config["seed"]
        )
        self.tree = ZoneTree(self.config["tree"])
        self.part = self.config["part"]
        self.interval = int(self.config["allocation_interval"])
        self.agent_names = [f"player_{k}" for k in self.match.players]
        n, m = self.match.n_agents, self.tree.n_subtasks
        self.single_observation_space = team_observation_space(
            n_agents=n,
            obs_dim=self.match.obs_dim,
            state_dim=self.match.state_dim,
            n_actions=N_ACTIONS,
            n_subtasks=m,
            status_dim=STATUS_DIM,
            n_subtask_types=m,
            pair_dim=1,  # distance from the player to the zone
        )
        self.single_action_space = team_action_space(n_agents=n, n_actions=N_ACTIONS, n_subtasks=m)
        self._action_mask = np.ones((1, n, N_ACTIONS), np.float32)
        self._subtask_action_mask = self.tree.action_mask[None].astype(np.float32)
        self._subtask_type = np.arange(m)[None]
        self._rule_action = np.full((1, n, m), BUILTIN_AI)
        self._agent_unit = np.arange(n)[None]
        self._renderer: PitchRenderer | None = None
        self.ended = np.ones(1, bool)  # match over (or never started): reset before stepping

    def reset(self, which: np.ndarray, seed: int | None = None) -> None:
        if which[0]:
            self.match.reset(seed)
            self.ended[0] = False
            self._tick()
            self.allocation = self.rule_allocation
            self.decide = True
            self._since_decision = 0

    def _tick(self) -> None:
        """Tick the tree for the current ball position; the rule allocation follows."""
        self.active = self.tree.active(self.match.ball[None, :2], self.part)
        self.rule_allocation = self.tree.nearest_active(self._positions(), self.active)

    def _positions(self) -> np.ndarray:
        """(1, N, 2) pitch positions of our controlled players."""
        return self.match.ours[self.match.players][None]

    def step(self, action: dict[str, np.ndarray], which: np.ndarray):
        """Play one step (``which`` is always the single instance: see :class:`SingleTeamEnv`)."""
        check_running("match", which, self.ended)
        actions = integer_array("actions", action["action"]).reshape(1, -1)
        check_actions(actions, self._action_mask, self.match.agent_mask[None], self.agent_names)
        if self.decide:
            self._adopt(integer_array("allocation", action["allocation"]).reshape(1, -1))
            self._since_decision = 0
        reward, done = self.match.step(actions[0])
        self.ended[0] = done
        before = self.active
        self._tick()
        self._since_decision += 1
        self.decide = bool(self.interval) and (
            self._since_decision >= self.interval or bool((self.active != before).any())
        )
        return np.array([reward]), np.array([done]), np.zeros(1, bool), self._infos(reward)

    def _adopt(self, allocation: np.ndarray) -> None:
        """Adopt a new allocation; every unit must point at an active subtask."""
        m = self.tree.n_subtasks
        valid = (allocation >= 0) & (allocation < m)
        valid &= np.take_along_axis(self.active, allocation.clip(0, m - 1), axis=1)
        if not valid.all():
            i = int(np.flatnonzero(~valid[0])[0])
            raise ValueError(
                f"allocation of {self.agent_names[i]!r} is {int(allocation[0, i])}, not an active "
                f"subtask; active subtasks: {np.flatnonzero(self.active[0]).tolist()}"
            )
        self.allocation = allocation.copy()  # the caller may reuse its array

    def _infos(self, reward: float) -> dict[str, np.ndarray]:
        info = match_info(self.match)
        batched = {key: np.asarray(value)[None] for key, value in info.items()}
        batched["subtask_reward"] = np.where(self.active, reward, 0.0).astype(np.float32)
        return batched

    def observe(self) -> dict[str, np.ndarray]:
        match = self.match
        status = self.tree.status(
            match.ball[None, :2],
            np.array([match.ball_owner]),
            match.ours[None],
            match.theirs[None],
            self.allocation,
        )
        return {
            "obs": match.obs[None],
            "state": match.state[None],
            "agent_mask": match.agent_mask[None],
            "action_mask": self._action_mask,
            "subtask_status": status,
            "subtask_type": self._subtask_type,
            "subtask_active": self.active.astype(np.float32),
            "subtask_action_mask": self._subtask_action_mask,
            "allocation": self.allocation,
            "decide": np.array([[float(self.decide)]], np.float32),
            "rule_allocation": self.rule_allocation,
            "rule_action": self._rule_action,
            "agent_unit": self._agent_unit,
            "pair": self.tree.distance(self._positions())[..., None].astype(np.float32),
        }

    def render(self, index: int = 0) -> np.ndarray:
        if self._renderer is None:
            self._renderer = PitchRenderer(self.tree)
        match = self.match
        return self._renderer.render(
            match.ours, match.theirs, match.ball, self.active[0], self.allocation[0], match.players
        )

    def close(self) -> None:
        self.match.close()


class FootballTeamEnv(SingleTeamEnv):
    """The team view of one match as a ``gymnasium.Env``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, config: dict[str, Any]) -> None:
        core = FootballTeamCore(config)
        super().__init__(core, render_mode=core.config["render_mode"])

    def close(self) -> None:
        self.core.close()


def check_env_config(config: dict[str, Any]) -> None:
    """Validate a ``maaal/football`` env_config without starting an engine (no spaces: the
    team view reads them from a running match)."""
    config = dict(config)
    check_num_envs(config.pop("num_envs", None))
    _validated(config)


def make_team_env(config: dict[str, Any]) -> gym.Env | gym.vector.VectorEnv:
    """The team view: one match, or with ``num_envs`` a vector env of that many matches.

    The engine cannot batch matches, so a vector env holds one engine per sub-env. ``sync``
    (default) steps them in turn in the calling process: RLlib already runs one process per
    EnvRunner, and ``benchmarks/football_env.py`` measured no gain from ``async`` (a process per
    match) on a busy 2-core machine (2 matches: sync 52.7-55.2, async 31.8-48.7 steps/s). Pick
    ``async`` when an EnvRunner has idle cores of its own.
    """
    config = dict(config)
    num_envs = config.pop("num_envs", None)
    check_env_config({**config, "num_envs": num_envs})
    if num_envs is None:
        return FootballTeamEnv(config)
    seed = config.get("seed")
    make = [
        partial(FootballTeamEnv, {**config, "seed": None if seed is None else seed + k})
        for k in range(int(num_envs))
    ]
    mode = gym.vector.AutoresetMode.NEXT_STEP
    if config.get("vectorize", DEFAULTS["vectorize"]) == "sync":
        return gym.vector.SyncVectorEnv(make, autoreset_mode=mode)
    return gym.vector.AsyncVectorEnv(make, autoreset_mode=mode, context="spawn")


# --------------------------------------------------------------------------- match metrics


def fixed_bt_policy(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fixed-BT: the rule allocation (nearest active zone) and the rule action (built-in AI)."""
    allocation = obs["rule_allocation"]
    action = np.take_along_axis(obs["rule_action"], allocation[..., None], axis=-1)[..., 0]
    return {"allocation": allocation, "action": action}


_worker_env: FootballTeamEnv | None = None


def _start_worker(config: dict[str, Any]) -> None:
    global _worker_env
    _worker_env = FootballTeamEnv(config)


def _play_match(policy: Callable[[dict], dict], seed: int) -> tuple[int, int]:
    """Play one match in this worker's env; return goals (for, against)."""
    obs, info = _worker_env.reset(seed=seed)
    done = False
    while not done:
        obs, _, terminated, truncated, info = _worker_env.step(policy(obs))
        done = terminated or truncated
    return int(info["score"][0]), int(info["score"][1])


def play_matches(
    policy: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] = fixed_bt_policy,
    n: int = 20,
    workers: int = 2,
    config: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Play ``n`` matches of ``policy`` (team observation → team action) in ``workers`` processes.

    Match k is seeded with ``seed + k``, so results do not depend on the number of workers.
    Returns win / draw / loss rates and mean goals for / against per match (the paper's win score
    and loss score), with the per-match goals.
    """
    if n < 1 or workers < 1:
        raise ValueError(f"n and workers must be >= 1, got n={n}, workers={workers}")
    config = _validated(dict(config or {}))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(config,)
    ) as pool:
        goals = np.array(list(pool.map(_play_match, [policy] * n, range(seed, seed + n))))
    diff = goals[:, 0] - goals[:, 1]
    return {
        "matches": n,
        "win_rate": float((diff > 0).mean()),
        "draw_rate": float((diff == 0).mean()),
        "loss_rate": float((diff < 0).mean()),
        "goals_for": float(goals[:, 0].mean()),
        "goals_against": float(goals[:, 1].mean()),
        "goals": goals.tolist(),
    }
