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
    approach_shaping,
    lambda_returns,
    semi_mdp_returns,
)
from rllib_maaal.algorithms.maaal.torch.maaal_torch_rl_module import (
    ALLOC_VALUE_MIX_TARGET,
    ALLOC_VALUE_TARGET,
    DECIDE,
    Q_ALLOC,
    Q_ALLOC_MIX,
    Q_TOT,
    Q_TOT_NEXT_TARGET,
    UNIT_PRESENT,
)

ALLOCATION_MODULE = ("alloc_head", "subtask_encoder")
AGENT_NETWORK = ("agent_net",)
ACTION_PARTS = ("subtask_nets", "mixer")
PAIR_HEAD = ("alloc_scorer",)
#: The trained parts of each allocation mixer (VDN's sum has none).
ALLOCATION_MIXER = {"none": (), "vdn": (), "qmix": ("alloc_mixer",)}
#: The pooled state's entity encoder, trained through the QMIX mixers that read it.
STATE_ENCODER = ("state_encoder",)


def _parts_with_gradient(module) -> set[str]:
    return {
        name.split(".")[0]
        for name, p in module.named_parameters()
        if not name.startswith("_target") and p.grad is not None and p.grad.abs().sum() > 0
    }


def _module_and_batch(request, mixer_state: str, **training):
    """A toy module and batch for ``mixer_state``: ``pooled`` needs the entity layout."""
    pooled = mixer_state == "pooled"
    module, config = make_module(entities=pooled, mixer_state=mixer_state, **training)
    return module, config, request.getfixturevalue("toy_entity_batch" if pooled else "toy_batch")


@pytest.mark.parametrize("mixer_state", ["flat", "pooled"])
@pytest.mark.parametrize("mixer", ["none", "vdn", "qmix"])
def test_l1_gradients_reach_only_agent_network_and_allocation_module(request, mixer, mixer_state):
    module, config, batch = _module_and_batch(request, mixer_state, allocation_mixer=mixer)
    loss, _ = allocation_loss(module.forward_train(batch), batch, config)
    loss.backward()
    # The pooled state's encoder moves with L1 only where a QMIX f_A reads it.
    encoder = STATE_ENCODER if (mixer_state, mixer) == ("pooled", "qmix") else ()
    assert _parts_with_gradient(module) == set(
        AGENT_NETWORK + ALLOCATION_MODULE + ALLOCATION_MIXER[mixer] + encoder
    )


@pytest.mark.parametrize("mixer_state", ["flat", "pooled"])
@pytest.mark.parametrize("mixer", ["none", "qmix"])
def test_l2_gradients_reach_agent_network_subtask_networks_and_mixer_only(
    request, mixer, mixer_state
):
    module, config, batch = _module_and_batch(request, mixer_state, allocation_mixer=mixer)
    loss, _, _ = action_loss(module.forward_train(batch), batch, config)
    loss.backward()
    encoder = STATE_ENCODER if mixer_state == "pooled" else ()
    assert _parts_with_gradient(module) == set(AGENT_NETWORK + ACTION_PARTS + encoder)


def perturb(net: torch.nn.Module) -> None:
    """Add unit noise to every parameter of ``net``."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))


def test_the_pooled_state_encoder_has_a_target_copy_that_the_targets_use(toy_entity_batch):
    module, _ = make_module(entities=True, mixer_state="pooled")
    target_of = {id(main): target for main, target in module.get_target_network_pairs()}
    before = module.forward_train(toy_entity_batch)
    perturb(target_of[id(module.state_encoder)])
    after = module.forward_train(toy_entity_batch)
    torch.testing.assert_close(after[Q_TOT], before[Q_TOT])
    assert not torch.allclose(after[Q_TOT_NEXT_TARGET], before[Q_TOT_NEXT_TARGET])


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
    config = SimpleNamespace(
        gamma=0.5, td_lambda=0.5, subtask_reward_weight=0.0, approach_reward_weight=0.0
    )
    y = action_targets(fwd_out, batch, config)
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
    full = SimpleNamespace(**vars(config) | {"td_lambda": 1.0})
    y = action_targets(fwd_out, toy_batch, full)[0, 0]
    discounts = config.gamma ** torch.arange(episode, dtype=torch.float32)
    tail = torch.cat([toy_batch["reward"][0, : episode - 1], one_step[0, episode - 1 : episode]])
    torch.testing.assert_close(y, (discounts * tail).sum(), rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------- joint allocation value (L1)
def test_vdn_allocation_mix_is_the_sum_over_present_units(toy_batch):
    module, config = make_module(allocation_mixer="vdn")
    toy_batch["obs"]["agent_mask"][:, :, 1] = 0.0  # agent (= unit) 1 is absent throughout
    fwd_out = module.forward_train(toy_batch)
    present = fwd_out[UNIT_PRESENT]
    assert not present[..., 1].any() and present[..., 0].all()
    q_chosen = fwd_out[Q_ALLOC].gather(-1, toy_batch["allocation"].unsqueeze(-1)).squeeze(-1)
    expected = torch.where(fwd_out[DECIDE], (q_chosen * present).sum(-1), 0.0)
    torch.testing.assert_close(fwd_out[Q_ALLOC_MIX], expected)
    present_next = toy_batch["obs"]["agent_mask"] > 0  # (B, T + 1, U): agent i is unit i
    expected = (fwd_out[ALLOC_VALUE_TARGET] * present_next).sum(-1)
    torch.testing.assert_close(fwd_out[ALLOC_VALUE_MIX_TARGET], expected)
    # L1 fits the mix, once per decision step.
    loss, _ = allocation_loss(fwd_out, toy_batch, config)
    td = allocation_targets(fwd_out, toy_batch, config) - fwd_out[Q_ALLOC_MIX]
    torch.testing.assert_close(loss, td[fwd_out[DECIDE]].pow(2).mean())


@pytest.mark.parametrize("terminated", [False, True])
def test_mixed_allocation_target_on_a_hand_made_episode(terminated):
    # rewards 1..4, decisions at t = 0 and 2, γ = 0.5; the target mix is 10 at t = 2 and 20 at
    # the final observation t = 4 (which counts only on truncation)
    fwd_out = {
        VALID: torch.tensor([[True, True, True, True]]),
        DECIDE: torch.tensor([[True, False, True, False]]),
        ALLOC_VALUE_MIX_TARGET: torch.tensor([[0.0, 0.0, 10.0, 0.0, 20.0]]),
    }
    batch = {
        "reward": torch.tensor([[1.0, 2.0, 3.0, 4.0]]),
        "length": torch.tensor([4]),
        "terminated": torch.tensor([float(terminated)]),
    }
    y = allocation_targets(fwd_out, batch, SimpleNamespace(gamma=0.5, allocation_mixer="vdn"))
    assert y.shape == (1, 4)
    assert y[0, 0].item() == pytest.approx(1 + 0.5 * 2 + 0.25 * 10)
    assert y[0, 2].item() == pytest.approx(3 + 0.5 * 4 + (0.0 if terminated else 0.25 * 20))


def test_the_allocation_mixer_has_a_target_copy_that_the_targets_use(toy_batch):
    module, _ = make_module(allocation_mixer="qmix")
    target_of = {id(main): target for main, target in module.get_target_network_pairs()}
    assert id(module.alloc_mixer) in target_of
    before = module.forward_train(toy_batch)
    perturb(target_of[id(module.alloc_mixer)])
    after = module.forward_train(toy_batch)
    torch.testing.assert_close(after[Q_ALLOC_MIX], before[Q_ALLOC_MIX])
    changed = before[DECIDE].any(-1)  # episodes with a decision step
    assert not torch.allclose(
        after[ALLOC_VALUE_MIX_TARGET][changed], before[ALLOC_VALUE_MIX_TARGET][changed]
    )


# ------------------------------------------------------------ subtask reward shaping (L2)
def test_shaping_weight_zero_reads_no_subtask_rewards(toy_shaped_batch):
    module, config = make_module()
    assert config.subtask_reward_weight == 0
    fwd_out = module.forward_train(toy_shaped_batch)
    unshaped = {k: v for k, v in toy_shaped_batch.items() if k != "subtask_reward"}
    assert torch.equal(
        action_targets(fwd_out, toy_shaped_batch, config),
        action_targets(fwd_out, unshaped, config),
    )


@pytest.mark.parametrize("weight", [0.5, 2.0])
def test_shaping_adds_the_staffed_subtasks_rewards_once_each(weight):
    # Two units, three subtasks with rewards 1, 2, 4. t = 0: units on 0 and 2 → 1 + 4;
    # t = 1: unit 1 (on subtask 2) is absent → 2; t = 2: both units on subtask 1 → 2, once.
    fwd_out = {
        VALID: torch.ones(1, 3, dtype=torch.bool),
        TERMINAL: torch.zeros(1, 3, dtype=torch.bool),
        Q_TOT_NEXT_TARGET: torch.tensor([[3.0, -1.0, 0.5]]),
        UNIT_PRESENT: torch.tensor([[[True, True], [True, False], [True, True]]]),
    }
    batch = {
        "reward": torch.tensor([[0.1, 0.2, 0.3]]),
        "allocation": torch.tensor([[[0, 2], [1, 2], [1, 1]]]),
        "subtask_reward": torch.tensor([[1.0, 2.0, 4.0]]).expand(1, 3, 3),
    }
    config = SimpleNamespace(
        gamma=0.9, td_lambda=0.0, subtask_reward_weight=weight, approach_reward_weight=0.0
    )
    shaped = action_targets(fwd_out, batch, config)
    plain = action_targets(
        fwd_out, batch, SimpleNamespace(**vars(config) | {"subtask_reward_weight": 0})
    )
    torch.testing.assert_close(shaped - plain, weight * torch.tensor([[5.0, 2.0, 2.0]]))


def test_shaping_changes_l2_by_the_toys_subtask_rewards_and_leaves_l1(toy_shaped_batch):
    module, config = make_module()
    shaped_config = config.copy(copy_frozen=False).training(subtask_reward_weight=1.0)
    fwd_out = module.forward_train(toy_shaped_batch)
    # Every toy agent scores inside its own (so staffed) subtask: Σ_m R^m = r + 0.5.
    valid = fwd_out[VALID]
    extra = action_targets(fwd_out, toy_shaped_batch, shaped_config) - action_targets(
        fwd_out, toy_shaped_batch, config
    )
    torch.testing.assert_close(extra[valid], toy_shaped_batch["reward"][valid] + 0.5)
    assert toy_shaped_batch["subtask_reward"][valid].sum() > 0
    torch.testing.assert_close(
        allocation_targets(fwd_out, toy_shaped_batch, shaped_config),
        allocation_targets(fwd_out, toy_shaped_batch, config),
    )


# ------------------------------------------------------------ approach shaping (L2)
def test_approach_shaping_rewards_progress_towards_the_allocated_subtask():
    # One env, two agents (units), two subtasks; pair column 1 is the distance, γ = 0.5.
    # Agent 0 stays on subtask 0 and walks 3 → 2 → 2 → 0: 3 − 1, 2 − 1, 2 − 0. Agent 1 is on
    # subtask 1 at t = 0 (4 → 3: 4 − 1.5), then on subtask 0, absent from t = 2 on: its step at
    # t = 1 ends absent and counts nothing.
    d0 = torch.tensor([[3.0, 9.0], [2.0, 9.0], [2.0, 9.0], [0.0, 9.0]])  # agent 0: (T + 1, M)
    d1 = torch.tensor([[7.0, 4.0], [1.0, 3.0], [1.0, 3.0], [0.0, 0.0]])
    pair = torch.zeros(1, 4, 2, 2, 2)
    pair[..., 1] = torch.stack([d0, d1], dim=1)[None]
    batch = {
        "reward": torch.zeros(1, 3),
        "allocation": torch.tensor([[[0, 1], [0, 0], [0, 0]]]),
        "obs": {
            "pair": pair,
            "agent_unit": torch.tensor([0, 1]).expand(1, 4, 2),
            "agent_mask": torch.tensor([[[1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [1.0, 0.0]]]),
        },
    }
    config = SimpleNamespace(gamma=0.5, approach_pair_feature=1)
    expected = torch.tensor([[2.0 + 2.5, 1.0, 2.0]])
    torch.testing.assert_close(approach_shaping(batch, config), expected)


def test_approach_shaping_enters_l2_scaled_and_leaves_l1(toy_pair_batch):
    module, config = make_module(pair=True)
    assert config.approach_reward_weight == 0
    # c = 2 in the env's reward units, scaled with the rewards (reward_scale 0.25): 0.5 F_t.
    config = config.copy(copy_frozen=False).training(reward_scale=0.25)
    shaped_config = config.copy(copy_frozen=False).training(
        approach_reward_weight=2.0, approach_pair_feature=0
    )
    fwd_out = module.forward_train(toy_pair_batch)
    valid = fwd_out[VALID]
    extra = action_targets(fwd_out, toy_pair_batch, shaped_config) - action_targets(
        fwd_out, toy_pair_batch, config
    )
    shaping = approach_shaping(toy_pair_batch, shaped_config)
    torch.testing.assert_close(extra[valid], 0.5 * shaping[valid])
    assert shaping[valid].abs().sum() > 0
    torch.testing.assert_close(
        allocation_targets(fwd_out, toy_pair_batch, shaped_config),
        allocation_targets(fwd_out, toy_pair_batch, config),
    )
