from __future__ import annotations

import numpy as np
import pytest
import torch
from option_critic_helpers import LABELS, SMALL, make_module
from ray.rllib.core.columns import Columns

from rllib_maaal.algorithms.option_critic.torch.option_critic_torch_rl_module import option_value
from rllib_maaal.envs.intern import InternCore
from rllib_maaal.grouping import random_pairing


def cohort_obs(seed: int, days: int = 9, num_envs: int = 3) -> dict[str, torch.Tensor]:
    """Observations of a few cohorts after ``days`` days of random pairings and messages (so
    that teams compete, states differ and the response record is filled)."""
    rng = np.random.default_rng(seed)
    core = InternCore(SMALL, num_envs=num_envs, seed=seed)
    every = np.ones(num_envs, bool)
    core.reset(every)
    for _ in range(days):
        pairing = random_pairing(rng, num_envs, SMALL.n_teams, SMALL.allow_self)
        core.step({"allocation": pairing, "action": rng.integers(0, 2, core.types.shape)}, every)
    return {k: torch.as_tensor(v) for k, v in core.observe().items()}


def relabel(
    obs: dict[str, torch.Tensor], interns: np.ndarray, teams: np.ndarray
) -> dict[str, torch.Tensor]:
    """The same cohorts with interns listed in the order ``interns`` and team t renamed
    ``teams[t]`` everywhere (memberships, pairings and the label columns)."""
    sigma = torch.as_tensor(teams)
    out = dict(obs)
    out["obs"] = obs["obs"][:, interns].clone()
    for column in LABELS:
        out["obs"][..., column] = sigma[out["obs"][..., column].long()].float()
    out["agent_unit"] = sigma[obs["agent_unit"][:, interns]]
    out["agent_mask"] = obs["agent_mask"][:, interns]
    out["action_mask"] = obs["action_mask"][:, interns]
    out["allocation"] = relabel_pairing(obs["allocation"], teams)
    return out


def relabel_pairing(partners: torch.Tensor, teams: np.ndarray) -> torch.Tensor:
    """partners'[σ(t)] = σ(partners[t])."""
    sigma = torch.as_tensor(teams)
    out = torch.empty_like(partners)
    out[..., sigma] = sigma[partners.long()]
    return out


def all_pairings(teams: list[int]) -> list[dict[int, int]]:
    """Every pairing of ``teams`` with self-pairs, by brute-force recursion (independent of the
    package's solver)."""
    if not teams:
        return [{}]
    first, rest = teams[0], teams[1:]
    found = [{first: first, **p} for p in all_pairings(rest)]
    for j in rest:
        others = [t for t in rest if t != j]
        found += [{first: j, j: first, **p} for p in all_pairings(others)]
    return found


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_critic_and_choice_are_invariant_to_shuffling_interns_and_relabelling_teams(seed):
    module, _ = make_module(seed=seed)
    obs = cohort_obs(seed)
    rng = np.random.default_rng(seed)
    interns = rng.permutation(SMALL.n_interns)
    teams = rng.permutation(SMALL.n_teams)
    moved = relabel(obs, interns, teams)
    with torch.no_grad():
        q, q_moved = module.pair_values(obs), module.pair_values(moved)
        # The value of a pair does not depend on the names: q'[σi, σj] = q[i, j] ...
        sigma = torch.as_tensor(teams)
        assert torch.allclose(q_moved[:, sigma][:, :, sigma], q, atol=1e-5)
        # ... so neither does the value of an option nor the greedy option.
        option = obs["allocation"]
        value = option_value(q, option)
        assert torch.allclose(option_value(q_moved, relabel_pairing(option, teams)), value)
        greedy = module.greedy_option(q)
        assert torch.equal(module.greedy_option(q_moved), relabel_pairing(greedy, teams))
        # The intra-option policy is equivariant: each intern keeps its own logits.
        logits = module.action_logits(obs, option)
        moved_logits = module.action_logits(moved, relabel_pairing(option, teams))
        assert torch.allclose(moved_logits, logits[:, interns], atol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_option_is_the_best_pairing_by_brute_force(seed):
    module, _ = make_module(seed=seed)
    obs = cohort_obs(seed)
    with torch.no_grad():
        q = module.pair_values(obs)
    pairings = torch.tensor(
        [[p[t] for t in range(SMALL.n_teams)] for p in all_pairings(list(range(SMALL.n_teams)))]
    )
    assert len(pairings) == 26  # pairings of 5 teams with self-pairs allowed
    values = option_value(q.unsqueeze(1), pairings[None])  # (B, 26)
    greedy_value = option_value(q, module.greedy_option(q))
    assert torch.allclose(greedy_value, values.max(-1).values)


def test_no_self_pairing_chooses_perfect_matchings():
    cfg = SMALL.__class__(n_teams=4, team_size=2, n_weeks=1, pairing_mode="no_self")
    module, _ = make_module(cfg, allow_self_pairing=False)
    q = torch.randn(16, 4, 4)
    q = q + q.transpose(-1, -2) + 10.0 * torch.eye(4)  # sitting out would be worth the most
    chosen = module.greedy_option(q)
    assert not (chosen == torch.arange(4)).any()


def test_actor_sees_no_opponent_when_the_team_sits_out():
    module, _ = make_module()
    obs = cohort_obs(0)
    alone = torch.arange(SMALL.n_teams).expand_as(obs["allocation"])
    other = alone.clone()
    other[:, [0, 1]] = torch.tensor([1, 0])  # teams 0 and 1 meet, the others stay alone
    with torch.no_grad():
        logits_alone = module.action_logits(obs, alone)
        logits_other = module.action_logits(obs, other)
    team = obs["agent_unit"]
    stays = team >= 2
    assert torch.allclose(logits_alone[stays], logits_other[stays])
    assert not torch.allclose(logits_alone[~stays], logits_other[~stays])


@pytest.mark.parametrize("explore", [False, True])
def test_a_new_option_only_on_decision_days(explore):
    module, _ = make_module(epsilon_option=1.0)
    obs = cohort_obs(0, days=9)  # day 9: mid-week
    obs["decide"][:] = 0.0
    obs["decide"][1] = 1.0
    act = module._forward_exploration if explore else module._forward_inference
    actions = act({Columns.OBS: obs})[Columns.ACTIONS]
    assert torch.equal(actions["allocation"][[0, 2]], obs["allocation"][[0, 2]])
    assert actions["action"].shape == obs["agent_unit"].shape
    chosen = actions["allocation"][1]
    assert torch.equal(chosen[chosen], torch.arange(SMALL.n_teams))  # a valid pairing


def test_drop_obs_features_must_index_the_observation():
    with pytest.raises(ValueError, match="drop_obs_features \\[15\\] must index the 15"):
        make_module(drop_obs_features=[15])
