"""SAVETHECITY (``maaal/city``): firefighters, builders and generalists save a burning city.

=================  ==========================================================================
module             contents
=================  ==========================================================================
``core``           :class:`CityCore`: B cities stepped together; scenarios, the behaviour tree
``kernels``        the compiled per-step rules, on a :class:`~.kernels.CityState` of the arrays
``team``           :func:`make_team_env`: the team view RLlib trains on
``pettingzoo``     :func:`parallel_env` / :func:`env`: PettingZoo's APIs for one city
``policies``       :func:`heuristic_policy`: the scripted team
``render``         RGB frames of a city
=================  ==========================================================================
"""

from rllib_maaal.envs.city.core import SCENARIOS, CityCore, city_tree
from rllib_maaal.envs.city.pettingzoo import CityParallelEnv, env, parallel_env
from rllib_maaal.envs.city.policies import heuristic_policy
from rllib_maaal.envs.city.team import check_env_config, make_team_env

__all__ = [
    "SCENARIOS",
    "CityCore",
    "CityParallelEnv",
    "check_env_config",
    "city_tree",
    "env",
    "heuristic_policy",
    "make_team_env",
    "parallel_env",
]
