"""The football engine (gfootball) behind the task: its import, and the scenario proxy that keeps
our goalkeeper on the game's AI so that each agent is always the same outfield player."""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import types
from collections.abc import Callable
from typing import Any

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

# the engine's modules the rest of the package builds on
__all__ = [
    "KeeperOnAI",
    "gf_config",
    "gf_football_env",
    "gf_scenario_builder",
    "gf_wrappers",
    "keeper_on_ai_scenario",
    "libgame",
]


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
