"""The option-critic grouping losses (Hu, 2025) on padded episode batches.

Batch (from :class:`~rllib_maaal.algorithms.episodic.EpisodeReplay`): ``obs`` is a dict
of (B, T + 1, ...) team observations, ``allocation`` (B, T, U) the option ω_t in force at every
step (the pairing; a new one is taken when ``decide`` is 1), ``action`` (B, T, N) the messages,
``reward`` (B, T) (already multiplied by ``reward_scale``), ``length`` (B,) and
``terminated`` (B,).

Critic (intra-option Q-learning of the option value, target network Q⁻)::

    U(s', ω) = max_ω' Q⁻(s', ω')   if a new option is due at s' (the week ends)
               Q⁻(s', ω)           otherwise (the option continues)
    y        = r + γ (1 − terminated) U(s_{t+1}, ω_t)
    L_critic = mean (y − Q(s_t, ω_t))²

A time-limit truncation bootstraps from the final observation; only a
termination ends the return. The max is the maximum-weight pairing of the target pair values.

Actor (intra-option policy gradient with the critic as baseline, every intern, every step)::

    L_actor = − mean_{t, i} log π(a_i | o_i, ω_t) · A_t  −  β · mean_{t, i} H(π),
    A_t     = y − Q(s_t, ω_t)

The advantage is held fixed (no gradient into the critic through the actor loss). With
``normalize_advantages`` (default) A is standardised over the batch, as in A2C/PPO practice: while
the critic is still far off, y − Q has a large common offset that only adds noise to the policy
gradient (and pushes a softmax policy toward collapse before it has learned anything), and the
entropy weight β becomes independent of the reward scale.

The module's ``_forward_train`` returns the values, targets and logits these equations read (see
the keys in :mod:`~rllib_maaal.algorithms.option_critic.torch.option_critic_torch_rl_module`).
"""

from __future__ import annotations

from typing import Any

import torch

from rllib_maaal.algorithms.episodic.torch.episodic_torch_learner import (
    EpisodicTorchLearner,
    batch_mean_std,
    masked_mean,
)
from rllib_maaal.algorithms.episodic.torch.episodic_torch_rl_module import TERMINAL, VALID
from rllib_maaal.algorithms.option_critic.torch.option_critic_torch_rl_module import (
    ACTING,
    LOGITS,
    VALUE_NEXT_TARGET,
    Q,
)

Tensors = dict[str, torch.Tensor]


class OptionCriticTorchLearner(EpisodicTorchLearner):
    """Computes L_critic + L_actor; the target critic follows the online one."""

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        """One Adam for the critic (``lr``) and one for the actor (``actor_lr``)."""
        module = self._module[module_id]
        for name, net, lr in (
            ("critic", module.critic, config.lr),
            ("actor", module.actor, config.actor_lr),
        ):
            params = self.get_parameters(net)
            self.register_optimizer(
                module_id=module_id,
                optimizer_name=name,
                optimizer=torch.optim.Adam(params),
                params=params,
                lr_or_lr_schedule=lr,
            )

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: Tensors
    ) -> torch.Tensor:
        stats = option_critic_losses(fwd_out, batch, config)
        loss = stats["critic_loss"] + stats["policy_loss"] - config.entropy_coeff * stats["entropy"]
        self.metrics.log_dict({k: v.detach() for k, v in stats.items()}, key=module_id, window=1)
        return loss


def option_critic_losses(fwd_out: Tensors, batch: dict[str, Any], config: Any) -> Tensors:
    """L_critic, the policy-gradient term of L_actor, the mean entropy H(π) and statistics.

    L_critic reaches only the critic, the actor terms only the actor (the advantage is fixed).
    """
    valid, acting = fwd_out[VALID], fwd_out[ACTING]
    q = fwd_out[Q]
    y = critic_targets(fwd_out, batch, config)
    td = y - q
    per_step = (
        torch.nn.functional.huber_loss(q, y, reduction="none")
        if config.td_loss == "huber"
        else td.pow(2)
    )

    log_p = torch.log_softmax(fwd_out[LOGITS], dim=-1)  # (B, T, N, A)
    taken = log_p.gather(-1, batch["action"].long().unsqueeze(-1)).squeeze(-1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    advantage = td.detach()
    if config.normalize_advantages:
        mean, std = batch_mean_std(advantage, valid)
        advantage = (advantage - mean) / (std + 1e-6)
    advantage = advantage.unsqueeze(-1).expand_as(taken)
    return {
        "critic_loss": masked_mean(per_step, valid),
        "policy_loss": -masked_mean(taken * advantage, acting),
        "entropy": masked_mean(entropy, acting),
        "q_mean": masked_mean(q.detach(), valid),
        "td_error": masked_mean(td.abs().detach(), valid),
    }


def critic_targets(fwd_out: Tensors, batch: dict[str, Any], config: Any) -> torch.Tensor:
    """y (B, T): the scaled reward plus the discounted target value of the next step, under the
    same option, or under the best one where the next step starts a new option."""
    not_done = 1.0 - fwd_out[TERMINAL].float()
    return batch["reward"] + config.gamma * not_done * fwd_out[VALUE_NEXT_TARGET]
