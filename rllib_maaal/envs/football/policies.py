"""Football's scripted team: Fixed-BT, every player on the game's AI inside its nearest zone."""

from __future__ import annotations

from rllib_maaal.envs.team import rule_policy

#: Fixed-BT: the rule allocation (nearest active zone) and the rule action (built-in AI).
fixed_bt_policy = rule_policy

__all__ = ["fixed_bt_policy"]
