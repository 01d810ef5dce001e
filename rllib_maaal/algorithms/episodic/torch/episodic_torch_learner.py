"""The target-network bookkeeping shared by our episodic learners (MAAAL, option-critic)."""

from __future__ import annotations

from typing import Any

from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.learner.utils import update_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI


class EpisodicTorchLearner(TorchLearner):
    """Builds the target networks of every module and keeps them in step after updates."""

    def build(self) -> None:
        super().build()
        self.module.foreach_module(
            lambda mid, mod: (
                mod.make_target_networks() if isinstance(mod, TargetNetworkAPI) else None
            )
        )
        self._updates_since_target_sync = 0

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        self._updates_since_target_sync += 1
        hard = self.config.tau >= 1.0
        if hard and self._updates_since_target_sync < self.config.target_network_update_freq:
            return
        self._updates_since_target_sync = 0
        for module in self.module._rl_modules.values():
            for main_net, target_net in module.unwrapped().get_target_network_pairs():
                update_target_network(main_net=main_net, target_net=target_net, tau=self.config.tau)
