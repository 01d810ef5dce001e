from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
from maaal_helpers import make_module

from rllib_maaal.algorithms.episodic.torch.episodic_torch_rl_module import TERMINAL, VALID
from rllib_maaal.algorithms.maaal.torch.maaal_torch_learner import (
    _next_boundary,
    action_loss,
    action_targets,
    allocation_loss,
    allocation_targets,
    lambda_returns,
    semi_mdp_returns,
)
from rllib_maaal.algorithms.maaal.torch.maaal_torch_rl_module import Q_TOT_NEXT_TARGET

ALLOCATION_MODULE = ("alloc_head", "subtask_encoder")
AGENT_NETWORK = ("agent_net",)
ACTION_PARTS = ("subtask_nets", "mixer")
PAIR_HEAD = ("alloc_scorer",)


def _parts_with_gradient(module) -> set[str]:
    return {
        name.split(".")[0]
        for name, p in module.named_parameters()
        if not name.startswith("_target") and p.grad is not None and p.grad.abs().sum() > 0
    }


def test_l1_gradients_reach_only_agent_network_and_allocation_module(toy_batch):
    module, config = make_module()
    loss, _ = allocation_loss(module.forward_train(toy_batch), toy_batch, config)
    loss.backward()
    assert _parts_with_gradient(module) == set(AGENT_NETWORK + ALLOCATION_MODULE)


def test_l2_gradients_reach_agent_network_subtask_networks_and_mixer_only(toy_batch):
    module, config = make_module()
    loss, _, _ = action_loss(module.forward_train(toy_batch), toy_batch, config)
    loss.backward()
    assert _parts_with_gradient(module) == set(AGENT_NETWORK + ACTION_PARTS)


def test_semi_mdp_returns_on_a_hand_made_episode():
    # rewards 1..5, decisions at t = 0 and t = 2, episode of length 5, γ = 0.5
    reward = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])
    boundary = torch.tensor([[True, False, True, False, False, True]])
    next_decision = _next_boundary(boundary)
    assert next_decision.tolist() == [[2, 2, 5, 5, 5]]
    seg, discount = semi_mdp_returns(reward, next_decision, gamma=0.5)
    assert seg[0, 0].item() == pytest.approx(1 + 0.5 * 2)
    assert discount[0, 0].item() == pytest.approx(0.25)
    assert seg[0, 2].item() == pytest.approx(3 + 0.5 * 4 + 0.25 * 5)
    assert discount[0, 2].item() == pytest.approx(0.125)
    assert seg[0, 4].item() == pytest.approx(5.0)


@pytest.mark.parametrize("terminated", [True, False])
def test_bootstrap_only_on_truncation(toy_batch, terminated):
    module, config = make_module()
    batch = {
        k: v[:1] if not isinstance(v, dict) else {kk: vv[:1] for kk, vv in v.items()}
        for k, v in toy_batch.items()
    }
    batch["terminated"] = torch.tensor([float(terminated)])
    fwd_out = module.forward_train(batch)
    last = int(batch["length"][0]) - 1
    y2 = action_targets(fwd_out, batch, config)
    y1 = allocation_targets(fwd_out, batch, config)
    r = batch["reward"][0, last]
    if terminated:
        assert y2[0, last].item() == pytest.approx(r.item())
        assert torch.allclose(y1[0, last], r.expand_as(y1[0, last]))
    else:
        assert y2[0, last].item() != pytest.approx(r.item())
        assert not torch.allclose(y1[0, last], r.expand_as(y1[0, last]))


@pytest.mark.parametrize("double_q", [True, False])
def test_action_target_chooses_with_online_networks_under_double_q(toy_batch, double_q):
    module, config = make_module(double_q=double_q)
    target_of = {id(main): target for main, target in module.get_target_network_pairs()}
    with torch.no_grad():
        for p in target_of[id(module.subtask_nets)].parameters():
            p.add_(torch.randn_like(p))
    y2 = action_targets(module.forward_train(toy_batch), toy_batch, config)
    # Recompute the target of step 0 by hand: next obs is step 1, allocation taken at step 1;
    # the target networks' Q as the online one of a twin holding the target weights.
    twin = copy.deepcopy(module)
    for main, target in twin.get_target_network_pairs():
        main.load_state_dict(target.state_dict())
    obs1 = {k: v[:, 1] for k, v in toy_batch["obs"].items()}
    alloc1 = toy_batch["allocation"][:, 1]
    q_target = twin.agent_q(obs1, twin.encode_agents(obs1), alloc1)
    q_online = module.agent_q(obs1, module.encode_agents(obs1), alloc1)
    best = (q_online if double_q else q_target).argmax(-1, keepdim=True)
    q_tot = twin.mix(q_target.gather(-1, best).squeeze(-1), obs1)
    expected = toy_batch["reward"][:, 0] + config.gamma * q_tot
    torch.testing.assert_close(y2[:, 0], expected.detach())


def test_with_pair_features_l1_reaches_only_agent_network_and_allocation_module(toy_pair_batch):
    module, config = make_module(pair=True)
    assert module.allocation_head == "mlp"
    loss, _ = allocation_loss(module.forward_train(toy_pair_batch), toy_pair_batch, config)
    loss.backward()
    assert _parts_with_gradient(module) == set(AGENT_NETWORK + ALLOCATION_MODULE + PAIR_HEAD)


def test_with_pair_features_l2_never_moves_the_allocation_module(toy_pair_batch):
    module, config = make_module(pair=True)
    loss, _, _ = action_loss(module.forward_train(toy_pair_batch), toy_pair_batch, config)
    loss.backward()
    assert _parts_with_gradient(module) == set(AGENT_NETWORK + ACTION_PARTS)


def test_target_networks_cover_the_pair_head():
    module, _ = make_module(pair=True)
    pairs = module.get_target_network_pairs()
    assert any(main is module.alloc_scorer for main, _ in pairs)
    assert all(main is not target for main, target in pairs)


@pytest.mark.parametrize(
    ("terminated", "expected"),
    [
        # r = 1, 2, 3, Q_tot⁻_{t+1} = 10, 20, 30, γ = λ = 0.5, one padded step:
        # y_2 = 3 + 0.5 · 30 = 18, y_1 = 2 + 0.5 (0.5 · 20 + 0.5 · 18), y_0 = 1 + 0.5 (5 + 0.5 y_1)
        (False, [6.375, 11.5, 18.0]),
        # y_2 = 3, y_1 = 2 + 0.5 (10 + 1.5), y_0 = 1 + 0.5 (5 + 0.5 · 7.75)
        (True, [5.4375, 7.75, 3.0]),
    ],
)
def test_td_lambda_targets_on_a_hand_made_episode(terminated, expected):
    valid = torch.tensor([[True, True, True, False]])
    fwd_out = {
        VALID: valid,
        TERMINAL: torch.tensor([[False, False, terminated, False]]),
        Q_TOT_NEXT_TARGET: torch.tensor([[10.0, 20.0, 30.0, 7.0]]),
    }
    batch = {"reward": torch.tensor([[1.0, 2.0, 3.0, 0.0]])}
    y = action_targets(fwd_out, batch, SimpleNamespace(gamma=0.5, td_lambda=0.5))
    torch.testing.assert_close(y[valid], torch.tensor(expected))


def test_td_lambda_zero_keeps_the_one_step_targets_and_one_gives_the_monte_carlo_return(
    toy_batch,
):
    module, config = make_module()
    fwd_out = module.forward_train(toy_batch)
    not_done = 1.0 - fwd_out[TERMINAL].float()
    one_step = toy_batch["reward"] + config.gamma * not_done * fwd_out[Q_TOT_NEXT_TARGET]
    assert config.td_lambda == 0
    assert torch.equal(action_targets(fwd_out, toy_batch, config), one_step)
    # The unrolled λ-return itself agrees at λ = 0 (on valid steps: padding is never trained).
    valid = fwd_out[VALID]
    unrolled = lambda_returns(
        one_step, toy_batch["reward"], fwd_out[Q_TOT_NEXT_TARGET], valid, config
    )
    torch.testing.assert_close(unrolled[valid], one_step[valid])
    # λ = 1: the discounted rewards to the episode's end, then its last one-step target.
    episode = int(toy_batch["length"][0])
    full = SimpleNamespace(gamma=config.gamma, td_lambda=1.0)
    y = action_targets(fwd_out, toy_batch, full)[0, 0]
    discounts = config.gamma ** torch.arange(episode, dtype=torch.float32)
    tail = torch.cat([toy_batch["reward"][0, : episode - 1], one_step[0, episode - 1 : episode]])
    torch.testing.assert_close(y, (discounts * tail).sum(), rtol=1e-5, atol=1e-4)
