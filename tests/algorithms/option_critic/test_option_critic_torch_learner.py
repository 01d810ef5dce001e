from __future__ import annotations

import pytest
import torch
from option_critic_helpers import make_module
from ray.rllib.core.columns import Columns

from rllib_maaal.algorithms.option_critic.torch.option_critic_torch_learner import (
    critic_targets,
    option_critic_losses,
)
from rllib_maaal.algorithms.option_critic.torch.option_critic_torch_rl_module import option_value
from rllib_maaal.grouping import all_pairings


def next_values(module, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q⁻(s_{t+1}, ω_t), max_ω Q⁻(s_{t+1}, ω) by enumerating every pairing, and decide_{t+1}."""
    nxt = {k: v[:, 1:] for k, v in batch["obs"].items()}
    with torch.no_grad():
        q = module.forward_target({Columns.OBS: nxt})["pair_q"]
    pairings = torch.as_tensor(all_pairings(q.shape[-1], True))
    every = option_value(q.unsqueeze(-3), pairings[None, None])  # (B, T, pairings)
    same = option_value(q, batch["allocation"])
    return same, every.max(-1).values, nxt["decide"][..., 0] > 0


@pytest.mark.parametrize("terminated", [False, True])
def test_critic_target_continues_the_option_within_a_week_and_switches_at_its_end(
    intern_batch, terminated
):
    module, config = make_module()
    with torch.no_grad():  # a target critic that differs from the online one
        for _, target in module.get_target_network_pairs():
            for p in target.parameters():
                p.add_(0.05 * torch.randn_like(p))
    batch = dict(intern_batch, terminated=torch.full_like(intern_batch["terminated"], terminated))
    assert (batch["length"] == batch["reward"].shape[1]).all()  # every step is valid
    y = critic_targets(module.forward_train(batch), batch, config)

    same, best, week_ends = next_values(module, batch)
    bootstrap = torch.where(week_ends, best, same)
    if terminated:
        bootstrap[:, -1] = 0.0  # a termination ends the return; a truncation bootstraps
    expected = batch["reward"] + 0.9 * bootstrap  # rewards come scaled from the replay
    assert week_ends.any() and (~week_ends).any()
    assert torch.allclose(y, expected, atol=1e-5)
    # The final observation of the (truncated) intern episode starts a new week.
    assert week_ends[:, -1].all()


def test_critic_loss_trains_only_the_critic_and_actor_loss_only_the_actor(intern_batch):
    module, config = make_module()
    losses = option_critic_losses(module.forward_train(intern_batch), intern_batch, config)
    critic = set(module.critic.parameters())
    actor = set(module.actor.parameters())

    losses["critic_loss"].backward(retain_graph=True)
    assert all(p.grad is not None for p in critic)
    assert all(p.grad is None for p in actor)
    module.zero_grad(set_to_none=True)
    (losses["policy_loss"] - losses["entropy"]).backward()
    assert all(p.grad is not None for p in actor)
    assert all(p.grad is None for p in critic)
    for _, target in module.get_target_network_pairs():
        assert all(p.grad is None for p in target.parameters())


def test_padding_steps_do_not_count(intern_batch):
    module, config = make_module()
    short = dict(intern_batch, length=intern_batch["length"] - 5)
    full = option_critic_losses(module.forward_train(intern_batch), intern_batch, config)
    cut = option_critic_losses(module.forward_train(short), short, config)
    assert not torch.isclose(full["critic_loss"], cut["critic_loss"])
    # Garbage in the padded steps changes nothing.
    noisy = dict(short, reward=short["reward"].clone())
    noisy["reward"][:, -5:] = 1e6
    again = option_critic_losses(module.forward_train(noisy), noisy, config)
    for key in ("critic_loss", "policy_loss", "entropy"):
        assert torch.isclose(again[key], cut[key])


def test_advantages_are_standardised_unless_disabled(intern_batch):
    module, config = make_module(reward_scale=1.0)
    raw = make_module(reward_scale=1.0, normalize_advantages=False)[1]
    fwd_out = module.forward_train(intern_batch)
    scaled = option_critic_losses(fwd_out, intern_batch, config)["policy_loss"]
    unscaled = option_critic_losses(fwd_out, intern_batch, raw)["policy_loss"]
    # Rewards of order −100 make the raw policy term large; standardised, it is of order 1.
    assert abs(unscaled) > 20 * abs(scaled)
