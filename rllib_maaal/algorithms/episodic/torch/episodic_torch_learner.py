"""What our episodic learners (MAAAL, option-critic) share: target networks, torch threads and
batch means that stay exact when the batch is split over several learners."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.learner.utils import update_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME


def _learners() -> int:
    """How many learners share the batch (DDP's world size; 1 without DDP)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _sum_over_learners(x: torch.Tensor) -> torch.Tensor:
    """``x`` summed over every learner's shard (an all-reduce: no host sync, gloo or NCCL)."""
    if _learners() == 1:
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x


def _masked_sum_and_count(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.where(mask, x, torch.zeros_like(x)).sum(), mask.sum().to(x.dtype)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """This learner's share of the mean of ``x`` over the entries where ``mask`` is true (0 for
    an empty mask): the mean itself with one learner.

    With ``num_learners`` = W > 1 each learner holds a shard of the batch's episodes and DDP
    averages the W gradients (RLlib averages logged values alike). Dividing this shard's sum by
    the count of all shards over W makes that average the whole batch's mean and its gradient,
    whatever the shards' sizes (a per-shard mean would weigh the steps of a shorter shard more).
    """
    total, count = _masked_sum_and_count(x, mask)
    return total / (_sum_over_learners(count) / _learners()).clamp(min=1.0)


def batch_mean_std(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) standard deviation of ``x`` (no gradient) over the entries where
    ``mask`` is true, over the whole batch however many learners share it."""
    x = x.detach()
    total, count = (_sum_over_learners(v) for v in _masked_sum_and_count(x, mask))
    mean = total / count.clamp(min=1.0)
    squares = _sum_over_learners(_masked_sum_and_count((x - mean).pow(2), mask)[0])
    return mean, (squares / (count - 1.0)).sqrt()


class EpisodicTorchLearner(TorchLearner):
    """Sets the learner's torch threads, builds the target networks of every module and keeps
    them in step after updates."""

    def build(self) -> None:
        # Deliberate, not the machine's core count: a learner actor gets one CPU by default
        # (num_cpus_per_learner), and two threads on one busy core run 3x slower than one.
        torch.set_num_threads(self.config.torch_threads_per_learner)
        super().build()
        self.module.foreach_module(
            lambda mid, mod: (
                mod.make_target_networks() if isinstance(mod, TargetNetworkAPI) else None
            )
        )
        self._updates = 0
        # Periods of ``target_network_update_freq`` (updates or env steps) already synced: the
        # targets are copies of the online networks at build, period 0.
        self._synced_periods = 0

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        self._updates += 1
        if self.config.tau >= 1.0 and not self._hard_copy_due(timesteps):
            return
        for module in self.module.values():
            for main_net, target_net in module.unwrapped().get_target_network_pairs():
                update_target_network(main_net=main_net, target_net=target_net, tau=self.config.tau)

    def _hard_copy_due(self, timesteps: dict[str, Any]) -> bool:
        """Whether the updates or lifetime env steps (``target_update_unit``) crossed a multiple
        of ``target_network_update_freq`` since the last copy; at most one copy per update."""
        progress = (
            timesteps.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)
            if self.config.target_update_unit == "env_steps"
            else self._updates
        )
        periods = int(progress) // self.config.target_network_update_freq
        if periods <= self._synced_periods:
            return False
        self._synced_periods = periods
        return True
