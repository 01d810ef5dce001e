"""The intern team competition (``maaal/intern``), after the Intern Health Study setting.

=================  ==========================================================================
module             contents
=================  ==========================================================================
``core``           the dynamics (documented there), :class:`InternCore`: B cohorts at once
``team``           :func:`make_team_env`: the team view RLlib trains on
``pettingzoo``     :func:`parallel_env` / :func:`env`: one agent per intern
``policies``       the paper's baselines, a response-record rule, the oracle planners
``render``         RGB frames of a cohort
=================  ==========================================================================
"""

from rllib_maaal.envs.intern.core import OBS_FEATURES, InternConfig, InternCore, obs_columns
from rllib_maaal.envs.intern.pettingzoo import InternParallelEnv, env, parallel_env
from rllib_maaal.envs.intern.policies import OraclePlanner, evaluate
from rllib_maaal.envs.intern.team import check_env_config, make_team_env

__all__ = [
    "OBS_FEATURES",
    "InternConfig",
    "InternCore",
    "InternParallelEnv",
    "OraclePlanner",
    "check_env_config",
    "env",
    "evaluate",
    "make_team_env",
    "obs_columns",
    "parallel_env",
]
