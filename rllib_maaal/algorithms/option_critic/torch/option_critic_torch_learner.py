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
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns

from rllib_maaal.algorithms.episodic.torch.episodic_torch_learner import EpisodicTorchLearner
from rllib_maaal.algorithms.option_critic.torch.option_critic_torch_rl_module import option_value

Obs = dict[str, torch.Tensor]


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
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        stats = option_critic_losses(self.module[module_id].unwrapped(), config, batch)
        loss = stats["critic_loss"] + stats["policy_loss"] - config.entropy_coeff * stats["entropy"]
        self.metrics.log_dict({k: v.detach() for k, v in stats.items()}, key=module_id, window=1)
        return loss


def option_critic_losses(
    module: Any, config: Any, batch: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """L_critic, the policy-gradient term of L_actor, the mean entropy H(π) and statistics.

    L_critic reaches only the critic, the actor terms only the actor (the advantage is fixed).
    """
    obs: Obs = batch["obs"]
    horizon = batch["reward"].shape[1]
    steps = torch.arange(horizon, device=batch["reward"].device)
    valid = steps < batch["length"].unsqueeze(1)  # (B, T)
    now = {k: v[:, :horizon] for k, v in obs.items()}
    option = batch["allocation"].long()

    q = option_value(module.pair_values(now), option)  # (B, T)
    y = critic_targets(module, config, batch, option, valid)
    td = y - q
    critic_loss = (
        torch.nn.functional.huber_loss(q[valid], y[valid])
        if config.td_loss == "huber"
        else td[valid].pow(2).mean()
    )

    log_p = torch.log_softmax(module.action_logits(now, option), dim=-1)  # (B, T, N, A)
    taken = log_p.gather(-1, batch["action"].long().unsqueeze(-1)).squeeze(-1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    acting = valid.unsqueeze(-1) & (now["agent_mask"] > 0)  # (B, T, N)
    advantage = td.detach()
    if config.normalize_advantages:
        advantage = (advantage - advantage[valid].mean()) / (advantage[valid].std() + 1e-6)
    advantage = advantage.unsqueeze(-1).expand_as(taken)
    return {
        "critic_loss": critic_loss,
        "policy_loss": -(taken * advantage)[acting].mean(),
        "entropy": entropy[acting].mean(),
        "q_mean": q[valid].mean().detach(),
        "td_error": td[valid].abs().mean().detach(),
    }


@torch.no_grad()
def critic_targets(
    module: Any, config: Any, batch: dict[str, Any], option: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """y (B, T): the scaled reward plus the discounted target value of the next step, under the
    same option, or under the best one where the next step starts a new option."""
    obs = batch["obs"]
    horizon = valid.shape[1]
    nxt = {k: v[:, 1 : horizon + 1] for k, v in obs.items()}
    pair_q = module.forward_target({Columns.OBS: nxt})["pair_q"]  # (B, T, U, U)
    value = option_value(pair_q, option)
    switch = (nxt["decide"][..., 0] > 0) & valid
    if switch.any():
        best = module.greedy_option(pair_q[switch])
        value[switch] = option_value(pair_q[switch], best)
    steps = torch.arange(horizon, device=valid.device)
    last = steps == batch["length"].unsqueeze(1) - 1
    terminal = last & (batch["terminated"] > 0).unsqueeze(1)
    return batch["reward"] + config.gamma * (1.0 - terminal.float()) * value
