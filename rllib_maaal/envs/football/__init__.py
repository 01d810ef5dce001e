"""Google Research Football (``maaal/football``): our ten outfield players against the game's AI.

=================  ==========================================================================
module             contents
=================  ==========================================================================
``core``           observations and env config (documented there), ``FootballMatch``
``engine``         the gfootball import and the scenario proxy keeping our keeper on AI
``zones``          the pitch zones: subtasks, their behaviour tree and action masks
``team``           ``make_team_env``: the team view RLlib trains on
``pettingzoo``     :func:`parallel_env` / :func:`env`: PettingZoo's APIs for one match
``policies``       :func:`fixed_bt_policy`: the scripted team (Fixed-BT)
``runner``         :func:`play_matches`: whole matches in worker processes, win/draw/loss
``render``         :class:`PitchRenderer`: top-down frames
=================  ==========================================================================
"""

from __future__ import annotations

import importlib
from typing import Any

#: The public names and the module each comes from. They load on first use: ``zones`` (the pitch
#: geometry and trees) must import without the engine, which every other module needs.
_EXPORTS = {
    "DEFAULTS": "core",
    "VECTORIZE": "core",
    "FootballMatch": "core",
    "keeper_on_ai_scenario": "engine",
    "FootballParallelEnv": "pettingzoo",
    "env": "pettingzoo",
    "parallel_env": "pettingzoo",
    "fixed_bt_policy": "policies",
    "PitchRenderer": "render",
    "play_matches": "runner",
    "FootballTeamCore": "team",
    "FootballTeamEnv": "team",
    "check_env_config": "team",
    "make_team_env": "team",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
