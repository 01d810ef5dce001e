"""Google Research Football (``maaal/football``): our ten outfield players against the game's AI.

=================  ==========================================================================
module             contents
=================  ==========================================================================
``core``           observations and env config (documented there), :class:`FootballMatch`
``engine``         the gfootball import and the scenario proxy keeping our keeper on AI
``zones``          the pitch zones: subtasks, their behaviour tree and action masks
``team``           :func:`make_team_env`: the team view RLlib trains on
``pettingzoo``     :func:`parallel_env` / :func:`env`: PettingZoo's APIs for one match
``policies``       :func:`fixed_bt_policy`: the scripted team (Fixed-BT)
``runner``         :func:`play_matches`: whole matches in worker processes, win/draw/loss
``render``         :class:`PitchRenderer`: top-down frames
=================  ==========================================================================
"""

from rllib_maaal.envs.football.core import DEFAULTS, VECTORIZE, FootballMatch
from rllib_maaal.envs.football.engine import keeper_on_ai_scenario
from rllib_maaal.envs.football.pettingzoo import FootballParallelEnv, env, parallel_env
from rllib_maaal.envs.football.policies import fixed_bt_policy
from rllib_maaal.envs.football.render import PitchRenderer
from rllib_maaal.envs.football.runner import play_matches
from rllib_maaal.envs.football.team import (
    FootballTeamCore,
    FootballTeamEnv,
    check_env_config,
    make_team_env,
)

__all__ = [
    "DEFAULTS",
    "VECTORIZE",
    "FootballMatch",
    "FootballParallelEnv",
    "FootballTeamCore",
    "FootballTeamEnv",
    "PitchRenderer",
    "check_env_config",
    "env",
    "fixed_bt_policy",
    "keeper_on_ai_scenario",
    "make_team_env",
    "parallel_env",
    "play_matches",
]
