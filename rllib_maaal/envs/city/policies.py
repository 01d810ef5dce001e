"""The city's scripted team, on the rule allocation and rule actions of the team observation.

The rules themselves (nearest suitable active subtask; walk there, then extinguish, freeze or
build) are compiled kernels the core evaluates for every observation
(:meth:`~rllib_maaal.envs.city.core.CityCore.rule_allocation`, ``rule_action``).
"""

from __future__ import annotations

from rllib_maaal.envs.team import rule_policy

#: The scripted team: rule allocation and, inside each agent's subtask, the rule action. With the
#: allocation kept between decisions, as here, this is the Fixed-BT controller.
heuristic_policy = rule_policy

__all__ = ["heuristic_policy"]
