"""The network building blocks: QMIX's monotonicity, VDN's sum, TypedMLP's per-type weights,
the encoders' symmetries."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_maaal.models import AgentEncoder, PairScorer, QMixer, TypedMLP, VDNMixer, make_mixer

N, S, E, F, D, H = 4, 10, 6, 5, 7, 16


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_qmix_is_monotonic_in_every_present_agents_q(seed: int):
    torch.manual_seed(seed)
    mixer = QMixer(N, S, embed=8, hyper_hidden=16)
    q = (3 * torch.randn(32, N)).requires_grad_()
    state = torch.randn(32, S)
    mask = (torch.rand(32, N) < 0.8).float()
    mixer(q, state, mask).sum().backward()
    assert (q.grad[mask > 0] >= 0).all()
    assert (q.grad[mask == 0] == 0).all()  # absent agents do not count
    # Raising one agent's Q never lowers Q_tot (the consistency of per-agent argmaxes).
    with torch.no_grad():
        higher = q + torch.eye(N)[seed % N] * torch.rand(32, 1) * 5
        assert (mixer(higher, state, mask) >= mixer(q, state, mask) - 1e-5).all()


def test_qmix_depends_on_the_state():
    torch.manual_seed(0)
    mixer = QMixer(N, S, embed=8, hyper_hidden=16)
    q, mask = torch.randn(8, N), torch.ones(8, N)
    assert not torch.allclose(mixer(q, torch.randn(8, S), mask), mixer(q, torch.randn(8, S), mask))


def test_vdn_sums_the_present_agents():
    q = torch.tensor([[1.0, 2.0, 4.0, 8.0]])
    mask = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    assert VDNMixer()(q, torch.zeros(1, S), mask).item() == 13.0


def test_make_mixer_names_the_allowed_kinds():
    assert isinstance(make_mixer("vdn", N, S, 8, 16), VDNMixer)
    with pytest.raises(ValueError, match="mixer must be one of 'qmix', 'vdn'; got 'sum'"):
        make_mixer("sum", N, S, 8, 16)


def test_typed_mlp_applies_each_items_own_type():
    torch.manual_seed(0)
    net = TypedMLP(n_types=3, in_dim=D, hidden=H, out_dim=5)
    x = torch.randn(2, 9, D)
    types = torch.randint(0, 3, (2, 9))
    out = net(x, types)
    assert out.shape == (2, 9, 5)
    for b in range(2):
        for k in range(9):
            t = types[b, k]
            hidden = torch.relu(x[b, k] @ net.w1[t] + net.b1[t])
            torch.testing.assert_close(out[b, k], hidden @ net.w2[t] + net.b2[t])
    # Another type gives another function of the same input.
    assert not torch.allclose(net(x, torch.zeros_like(types)), net(x, torch.ones_like(types)))


def _encoder_inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(3, N, D, generator=g)
    entities = torch.randn(3, E, F, generator=g)
    mask = (torch.rand(3, E, generator=g) < 0.7).float()
    mask[:, 0] = 1.0
    return obs, entities, mask


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), entities=st.permutations(range(E)))
def test_entity_encoder_is_invariant_to_the_order_of_entities(seed: int, entities: list[int]):
    torch.manual_seed(0)
    encoder = AgentEncoder(D, H, entity_dim=F)
    obs, ent, mask = _encoder_inputs(seed)
    perm = torch.tensor(entities)
    torch.testing.assert_close(
        encoder(obs, ent[:, perm], mask[:, perm]), encoder(obs, ent, mask), atol=1e-5, rtol=1e-5
    )


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), agents=st.permutations(range(N)))
def test_agent_encoders_are_equivariant_to_the_order_of_agents(seed: int, agents: list[int]):
    torch.manual_seed(0)
    obs, ent, mask = _encoder_inputs(seed)
    perm = torch.tensor(agents)
    for encoder, args in (
        (AgentEncoder(D, H, entity_dim=F), (ent, mask)),
        (AgentEncoder(D, H), ()),
    ):
        torch.testing.assert_close(encoder(obs[:, perm], *args), encoder(obs, *args)[:, perm])


def test_masked_entities_change_nothing_and_present_ones_do():
    torch.manual_seed(0)
    encoder = AgentEncoder(D, H, entity_dim=F)
    obs, ent, mask = _encoder_inputs(1)
    mask[:, -1] = 0.0
    w = encoder(obs, ent, mask)
    hidden = ent.clone()
    hidden[:, -1] += 100.0
    torch.testing.assert_close(encoder(obs, hidden, mask), w)
    seen = ent.clone()
    seen[:, 0] += 1.0
    assert not torch.allclose(encoder(obs, seen, mask), w)
    # With no entity at all, the attention context is zero rather than NaN.
    assert torch.isfinite(encoder(obs, ent, torch.zeros_like(mask))).all()


def test_pair_scorer_is_an_mlp_on_the_concatenation():
    torch.manual_seed(0)
    scorer = PairScorer(unit_dim=3, item_dim=4, pair_dim=2, hidden=H)
    units, items, pair = torch.randn(5, 3), torch.randn(6, 4), torch.randn(5, 6, 2)
    first = torch.cat([scorer.unit.weight, scorer.item.weight, scorer.pair.weight], dim=1)
    joint = torch.cat([units[:, None].expand(5, 6, 3), items[None].expand(5, 6, 4), pair], dim=-1)
    expected = scorer.out(torch.relu(joint @ first.T + scorer.unit.bias)).squeeze(-1)
    torch.testing.assert_close(scorer(units, items, pair), expected)


def test_pair_scorer_with_an_item_mask_scores_only_the_marked_items_and_the_same():
    torch.manual_seed(0)
    scorer = PairScorer(unit_dim=3, item_dim=4, pair_dim=2, hidden=H)
    units, items = torch.randn(2, 3, 5, 3), torch.randn(2, 3, 6, 4)
    pair = torch.randn(2, 3, 5, 6, 2)
    mask = torch.rand(2, 3, 6) < 0.4
    mask[0, 0] = False  # an instance with no item to score
    full = scorer(units, items, pair)
    masked = scorer(units, items, pair, item_mask=mask)
    marked = mask.unsqueeze(-2).expand_as(full)
    torch.testing.assert_close(masked[marked], full[marked])
    assert (masked[~marked] == float("-inf")).all()
    # The gradients of the marked scores are the same either way.
    params = list(scorer.parameters())
    grads = [torch.autograd.grad(s[marked].sum(), params) for s in (full, masked)]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)
