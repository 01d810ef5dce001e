"""Tests of the city task: each dynamics rule on hand-made states, the reference statistics of
random play, the heuristic team, the PettingZoo and RLlib APIs, and bad input."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rllib_maaal.envs.city import env, heuristic_policy, kernels, make_team_env, parallel_env
from rllib_maaal.envs.city.core import PAIR_FEATURES, SCENARIOS, CityCore
from rllib_maaal.envs.city.kernels import (
    BUILD_ACTION,
    BUILDER,
    EXTINGUISH,
    FIREFIGHTER,
    FREEZE,
    GENERALIST,
    MAX_STEPS,
    STAY,
)

F, B, G = FIREFIGHTER, BUILDER, GENERALIST
N_IDX, E_IDX, S_IDX, W_IDX = 1, 2, 3, 4  # move north/east/south/west by one


def city(agents, buildings, **kwargs) -> CityCore:
    """A single 7a_7b city in a hand-made state."""
    core = CityCore(1, scenario="7a_7b", teams="fixed", seed=0)
    core.reset(np.ones(1, bool))
    core.set_state(0, agents=agents, buildings=buildings, **kwargs)
    return core


def step(core: CityCore, actions: list[int]):
    """One step with the given actions (rest stay) and the rule allocation."""
    act = np.zeros((1, core.n_agents), np.int64)
    act[0, : len(actions)] = actions
    allocation = core.rule_allocation()
    return core.step({"allocation": allocation, "action": act}, np.ones(1, bool))


# Building at (4, 4); (4, 3) and (5, 4) touch it. A second, complete-able far building keeps the
# episode going where a test needs it.
SITE = (4, 4)
FAR = (13, 13, 0.5, 0.0)


# --- fire -------------------------------------------------------------------------------------
def test_fire_grows_by_ten_percent_capped_at_one():
    core = city([(0, 0, F)], [(*SITE, 0.5, 0.5), (7, 7, 0.5, 0.95)])
    step(core, [STAY])
    np.testing.assert_allclose(core.fire[0, :2], [0.55, 1.0])


def test_extinguish_reduces_fire_by_speed_times_quarter():
    core = city([(4, 3, F), (5, 4, B)], [(*SITE, 0.5, 1.0), FAR])
    step(core, [EXTINGUISH, EXTINGUISH])
    np.testing.assert_allclose(core.fire[0, 0], 1.0 - 0.25 * (1.0 + 0.05))


def test_builder_and_generalist_extinguishing_get_the_help_bonus():
    core = city([(4, 3, B), (5, 4, G)], [(*SITE, 0.5, 1.0), FAR])
    step(core, [EXTINGUISH, EXTINGUISH])
    np.testing.assert_allclose(core.fire[0, 0], 1.0 - 0.25 * 0.05 - 0.45 * 0.25)
    alone = city([(4, 3, G)], [(*SITE, 0.5, 1.0), FAR])
    step(alone, [EXTINGUISH])  # speed 0 and no partner: fire neither drops nor grows
    np.testing.assert_allclose(alone.fire[0, 0], 1.0)


def test_putting_a_fire_out_is_rewarded():
    core = city([(4, 3, F)], [(*SITE, 0.5, 0.2), FAR])
    reward, *_ = step(core, [EXTINGUISH])
    assert core.fire[0, 0] == 0
    burn_far = 0.0  # the far building is not on fire
    np.testing.assert_allclose(reward[0], core.scale * (0.5 + burn_far))


# --- building -----------------------------------------------------------------------------------
def test_build_rates_by_type():
    core = city([(4, 3, B), (5, 4, F)], [(*SITE, 0.5, 0.0), FAR])
    reward, *_ = step(core, [BUILD_ACTION, BUILD_ACTION])
    gain = 0.125 * (1.0 + 0.05)
    np.testing.assert_allclose(core.health[0, 0], 0.5 + gain)
    np.testing.assert_allclose(reward[0], core.scale * 10 * gain)


def test_firefighter_and_generalist_building_get_the_help_bonus():
    core = city([(4, 3, F), (5, 4, G)], [(*SITE, 0.5, 0.0), FAR])
    step(core, [BUILD_ACTION, BUILD_ACTION])
    np.testing.assert_allclose(core.health[0, 0], 0.5 + 0.125 * 0.05 + 0.45 * 0.125)


def test_completion_reward_and_final_bonus_end_the_episode():
    core = city([(4, 3, B)], [(*SITE, 0.95, 0.0)])
    reward, terminated, truncated, infos = step(core, [BUILD_ACTION])
    assert core.complete[0, 0] and terminated[0] and not truncated[0]
    np.testing.assert_allclose(reward[0], core.scale * (10 * 0.05 + 1 + 20))
    assert infos["success"][0] and infos["fraction_completed"][0] == 1.0
    assert infos["fraction_burned"][0] == 0.0


# --- burning ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fast, rate", [(True, 1.0), (False, 0.5)])
def test_burn_by_building_type(fast, rate):
    core = city([(0, 0, F)], [(*SITE, 0.5, 1.0), FAR], fast=[fast, True])
    step(core, [STAY])
    np.testing.assert_allclose(core.health[0, 0], 0.5 - 1.0 * rate * 0.035)


def test_freezing_stops_the_burn_for_one_step():
    core = city([(4, 3, G)], [(*SITE, 0.5, 1.0), FAR])
    step(core, [FREEZE])
    np.testing.assert_allclose(core.health[0, 0], 0.5)
    step(core, [STAY])
    np.testing.assert_allclose(core.health[0, 0], 0.5 - 0.035)


def test_burning_down_is_penalised_and_clears_the_fire():
    core = city([(0, 0, F)], [(*SITE, 0.01, 1.0), FAR])
    reward, terminated, _, infos = step(core, [STAY])
    assert core.burned[0, 0] and core.fire[0, 0] == 0 and not terminated[0]
    assert infos["fraction_burned"][0] == 0.5  # one of the two buildings
    assert core.scale == pytest.approx(20 / (0.5 * 10 * 8 + 8 + 20))  # B_max = 8 in 7a_7b
    np.testing.assert_allclose(reward[0], core.scale * (10 * -0.01 - 20))


def test_reignition_after_the_countdown():
    core = city([(0, 0, F)], [(*SITE, 0.5, 0.0), FAR], period=[3, 70])
    for _ in range(2):
        step(core, [STAY])
        assert core.fire[0, 0] == 0
    step(core, [STAY])
    assert core.fire[0, 0] == 1.0 and core.countdown[0, 0] == 3


def test_countdown_stops_once_complete():
    core = city([(4, 3, B)], [(*SITE, 0.95, 0.0), FAR], period=[2, 70])
    step(core, [BUILD_ACTION])
    step(core, [STAY])
    step(core, [STAY])
    assert core.complete[0, 0] and core.fire[0, 0] == 0


# --- movement -------------------------------------------------------------------------------
def test_action_availability():
    core = city(
        [(4, 3, F), (4, 2, G), (0, 0, B), (7, 8, G)],
        [(*SITE, 0.5, 1.0), (7, 7, 0.5, 0.0), FAR],
    )
    avail = core.avail[0]
    assert not avail[0, N_IDX]  # into a building
    assert not avail[0, S_IDX] and not avail[1, N_IDX]  # into another agent
    assert not avail[2, S_IDX] and not avail[2, W_IDX]  # off the grid
    assert not avail[0, 5:9].any() and avail[1, 7]  # moves by two: generalists only
    assert not avail[3, 7] and avail[3, 5]  # south by two would pass through the building
    assert avail[0, EXTINGUISH] and not avail[0, BUILD_ACTION] and not avail[0, FREEZE]
    assert not avail[2, EXTINGUISH] and not avail[2, BUILD_ACTION]  # not touching a building
    core.set_state(0, agents=[(8, 7, G), (7, 6, F)], buildings=[(7, 7, 0.5, 0.0), FAR])
    avail = core.avail[0]
    assert avail[0, BUILD_ACTION] and avail[1, BUILD_ACTION]
    assert not avail[0, FREEZE] and not avail[0, EXTINGUISH]


def test_collision_sends_a_random_one_back():
    winners = set()
    for seed in range(12):
        core = city([(2, 2, F), (4, 2, B)], [(7, 7, 0.5, 0.0), FAR])
        core.rng = np.random.default_rng(seed)
        step(core, [E_IDX, W_IDX])
        cells = sorted(core.agent_cell[0, :2].tolist())
        assert 3 * 16 + 2 in cells and len(set(cells)) == 2
        winners.add(int(core.agent_cell[0, 0] == 3 * 16 + 2))
    assert winners == {0, 1}


def test_move_by_two():
    core = city([(2, 2, G)], [(7, 7, 0.5, 0.0), FAR])
    step(core, [5])  # north by two
    assert core.agent_cell[0, 0] == 2 * 16 + 4


# --- episode end ------------------------------------------------------------------------------
def test_truncation_at_150_steps():
    core = city([(0, 0, B)], [(*SITE, 0.5, 0.0), FAR], fast=[False, False], period=[200, 200])
    for t in range(MAX_STEPS):
        _, terminated, truncated, _ = step(core, [STAY])
        assert not terminated[0]
        assert truncated[0] == (t == MAX_STEPS - 1)


# --- team view --------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["entity", "flat"])
def test_team_view_observations_fit_their_space(layout):
    team = make_team_env({"scenario": "2-5a_2-5b", "obs_layout": layout, "seed": 1})
    obs, _ = team.reset()
    assert team.observation_space.contains(obs)
    for _ in range(20):
        obs, *_ = team.step(heuristic_policy(obs))
        assert team.observation_space.contains(obs)
    assert obs["subtask_status"].shape == (12, 12) and obs["rule_action"].shape == (5, 12)
    assert obs["pair"].shape == (5, 12, len(PAIR_FEATURES))


def test_pair_features_by_hand():
    # A firefighter west of building 0, a generalist north of building 1 whose straight walk down
    # to it is blocked by building 0: it walks round (6 moves, not the 4 of Manhattan's).
    core = city([(2, 2, F), (4, 9, G)], [(4, 4, 0.5, 0.0), (4, 7, 0.5, 0.0)])
    pair = core.observe()["pair"][0]
    K = core.n_buildings
    assert pair.shape == (7, 16, len(PAIR_FEATURES))
    fit = {name: PAIR_FEATURES.index(name) for name in PAIR_FEATURES[3:]}
    expected = {
        (0, 0): [2, 2, 3],  # (2, 2) → (4, 4): walk to (3, 4) or (4, 3)
        (0, 1): [2, 5, 6],  # (2, 2) → (4, 7): walk to (3, 7)
        (1, 0): [0, -5, 6],  # (4, 9) → (4, 4): round building 1 to (3, 4) or (3, 5)...
        (1, 1): [0, -2, 1],  # (4, 9) → (4, 7): (4, 8) touches it
    }
    for (i, k), (dx, dy, walk) in expected.items():
        for m, kind in ((k, "firefight"), (K + k, "repair")):
            agent = ("firefighter", "generalist")[i]
            want = np.zeros(len(PAIR_FEATURES), np.float32)
            want[:3] = np.array([dx, dy, walk]) / 16
            want[fit[f"{agent}_{kind}"]] = 1.0
            np.testing.assert_allclose(pair[i, m], want, err_msg=f"agent {i}, subtask {m}")
    # padded agents and padded buildings have no features
    assert not pair[2:].any() and not pair[:, 2:K].any() and not pair[:, K + 2 :].any()


def test_subtasks_follow_the_tree_and_decisions_the_interval():
    core = city(
        [(4, 3, F), (0, 0, B), (0, 15, G)],
        [(*SITE, 0.5, 1.0), (7, 7, 0.5, 0.0), (13, 13, 0.5, 0.0)],
        period=[70, 70, 2],
    )
    K = core.n_buildings
    active = core.active[0]
    assert active[0] and not active[K] and active[K + 1] and not active[1]
    assert not active[3:K].any() and not active[K + 3 :].any()  # padding
    assert core.decide[0]
    alloc = core.rule_allocation()[0]
    assert alloc[0] == 0 and alloc[1] in (K + 1, K + 2) and alloc[2] == 0  # G: nearest fire
    step(core, [STAY])
    assert not core.decide[0]
    step(core, [STAY])  # building 2 re-ignites: the active set changes
    assert core.active[0, 2] and core.decide[0]
    for _ in range(4):
        step(core, [STAY])
    assert not core.decide[0]
    step(core, [STAY])
    assert core.decide[0]  # five steps after the last decision


def test_static_allocation_decides_only_at_reset():
    core = CityCore(1, scenario="7a_7b", teams="fixed", allocation_interval=0, seed=0)
    core.reset(np.ones(1, bool))
    assert core.decide[0]
    decisions = []
    for _ in range(40):
        step(core, [STAY])
        decisions.append(core.decide[0])
    assert not any(decisions)


def test_rule_action_walks_then_acts():
    core = city([(4, 1, F), (5, 4, G)], [(*SITE, 0.5, 1.0), FAR])
    rule = core.rule_action()[0]
    assert rule[0, 0] == N_IDX and rule[1, 0] == FREEZE
    assert rule[1, core.n_buildings] == STAY  # repair of a burning building: nothing to do


def test_allocation_to_an_inactive_subtask_is_an_error():
    core = city([(4, 3, F)], [(*SITE, 0.5, 1.0), FAR])
    act = {"allocation": np.full((1, 7), core.n_buildings), "action": np.zeros((1, 7), int)}
    with pytest.raises(ValueError, match="agent_0.*repair_0"):
        core.step(act, np.ones(1, bool))


def test_unavailable_and_malformed_actions_are_errors():
    core = city([(4, 3, F)], [(*SITE, 0.5, 1.0), FAR])
    alloc = core.rule_allocation()
    with pytest.raises(ValueError, match="agent_0.*took action 10"):
        core.step({"allocation": alloc, "action": np.full((1, 7), 10)}, np.ones(1, bool))
    with pytest.raises(ValueError, match="shape"):
        core.step({"allocation": alloc, "action": np.zeros((1, 3), int)}, np.ones(1, bool))
    with pytest.raises(ValueError, match="not available"):
        core.step({"allocation": alloc, "action": np.full((1, 7), 12)}, np.ones(1, bool))
    with pytest.raises(ValueError, match="actions must be integers"):
        core.step({"allocation": alloc, "action": np.zeros((1, 7))}, np.ones(1, bool))
    # padded agents' actions are ignored; other integer dtypes and layouts are taken as they are
    act = np.full((7, 1), 99, np.int32).T
    act[0, 0] = EXTINGUISH
    core.step({"allocation": alloc, "action": act}, np.ones(1, bool))
    np.testing.assert_allclose(core.fire[0, 0], 1.0 - 0.25)


def test_stepping_an_ended_episode_is_an_error():
    core = city([(4, 3, B)], [(*SITE, 0.95, 0.0)])
    *_, infos = step(core, [BUILD_ACTION])
    assert infos["success"][0]
    with pytest.raises(ValueError, match="city 0 has no episode running: reset"):
        step(core, [STAY])
    with pytest.raises(ValueError, match="reset"):
        CityCore(2).step(
            {"allocation": np.zeros((2, 7)), "action": np.zeros((2, 7))}, np.ones(2, bool)
        )


def test_bad_env_config():
    with pytest.raises(ValueError, match="scenario must be one of.*7a_7b"):
        make_team_env({"scenario": "9a_9b"})
    with pytest.raises(
        ValueError,
        match="city env_config key must be one of .*; got 'scenery' .did you mean 'scenario'",
    ):
        make_team_env({"scenery": "7a_7b"})
    with pytest.raises(ValueError, match="teams"):
        make_team_env({"teams": "mixed"})
    with pytest.raises(ValueError, match="allocation_interval must be an int >= 0"):
        make_team_env({"allocation_interval": -1})
    with pytest.raises(ValueError, match="allocation_interval must be an int >= 0"):
        make_team_env({"allocation_interval": 2.5})
    with pytest.raises(
        ValueError, match="render_mode must be one of None, human, rgb_array; got 'video'"
    ):
        make_team_env({"render_mode": "video"})
    with pytest.raises(ValueError, match="obs_layout"):
        make_team_env({"obs_layout": "graph"})


def test_every_scenario_pads_to_its_maximum():
    for name, scenario in SCENARIOS.items():
        core = CityCore(8, scenario=name, seed=0)
        core.reset(np.ones(8, bool))
        n = core.agent_mask.sum(1)
        assert (n >= scenario.min_agents).all() and (n <= scenario.max_agents).all()
        np.testing.assert_array_equal(core.building_mask.sum(1), n + 1)
        for kinds, present in zip(core.agent_type, core.agent_mask, strict=True):
            team = kinds[present].tolist()
            assert len(set(team)) == min(len(team), 3)  # every type (all distinct below three)
    fixed = CityCore(1, scenario="16a_16b", teams="fixed", seed=0)
    fixed.reset(np.ones(1, bool))
    np.testing.assert_array_equal(fixed.agent_type[0], np.arange(16) % 3)


def test_random_teams_contain_every_type():
    core = CityCore(64, scenario="7a_7b", teams="random", seed=0)
    core.reset(np.ones(64, bool))
    for row in core.agent_type:
        assert set(row.tolist()) == {0, 1, 2}
    assert len({tuple(sorted(row)) for row in core.agent_type.tolist()}) > 1


@pytest.mark.parametrize("num_envs", [None, 3])
def test_observations_survive_later_steps(num_envs):
    """Callers (RLlib's episodes) keep observations: a step must not write into earlier ones."""
    config = {"scenario": "7a_7b", "seed": 0} | ({"num_envs": num_envs} if num_envs else {})
    team = make_team_env(config)
    obs, _ = team.reset(seed=0)
    kept = [obs]
    for _ in range(30):
        obs, *_ = team.step(heuristic_policy(obs))
        kept.append(obs)
    copies = [{k: np.array(v) for k, v in o.items()} for o in kept]
    for _ in range(5):
        obs, *_ = team.step(heuristic_policy(obs))
    for o, copy in zip(kept, copies, strict=True):
        for key, value in copy.items():
            np.testing.assert_array_equal(o[key], value, err_msg=key)
    assert not np.array_equal(copies[0]["state"], copies[-1]["state"])


def test_batched_env_is_deterministic_and_autoresets():
    def rollout(seed):
        team = make_team_env({"num_envs": 4, "scenario": "2-8a_2-8b", "seed": seed})
        obs, _ = team.reset(seed=seed)
        rewards, ends = [], 0
        for _ in range(160):
            obs, reward, terminated, truncated, _ = team.step(heuristic_policy(obs))
            assert team.observation_space.contains(obs)
            rewards.append(reward)
            ends += (terminated | truncated).sum()
        return np.array(rewards), ends

    (first, ends), (again, _) = rollout(3), rollout(3)
    np.testing.assert_array_equal(first, again)
    assert ends >= 4


# --- statistics -------------------------------------------------------------------------------
def play(scenario: str, episodes: int, policy: str, seed: int = 0) -> dict[str, float]:
    """Success, fraction completed, mean length and scaled return of ``episodes`` cities of the
    fixed (F, B, G cycling) teams, each played once under ``policy``."""
    core = CityCore(episodes, scenario=scenario, teams="fixed", seed=seed)
    core.reset(np.ones(episodes, bool))
    rng = np.random.default_rng(seed)
    live = np.ones(episodes, bool)
    returns, lengths = np.zeros(episodes), np.zeros(episodes)
    success, fraction = np.zeros(episodes), np.zeros(episodes)
    while live.any():
        obs = core.observe()
        if policy == "random":
            act = {
                "allocation": obs["rule_allocation"],
                "action": (rng.random(core.avail.shape) * core.avail).argmax(-1),
            }
        else:
            act = heuristic_policy(obs)
        reward, terminated, truncated, infos = core.step(act, live)
        returns += reward
        lengths += live
        ended = terminated | truncated
        success[ended] = infos["success"][ended]
        fraction[ended] = infos["fraction_completed"][ended]
        live &= ~ended
    return {
        "success": success.mean(),
        "fraction": fraction.mean(),
        "length": lengths.mean(),
        "return": returns.mean(),
        "return_std": returns.std(),
        "length_std": lengths.std(),
    }


# specs/city.md reference table: uniform random valid actions, 200 episodes
REFERENCE = {
    "7a_7b": {"success": 0.0, "fraction": 0.013, "length": 91.5, "return": -57.7},
    "16a_16b": {"success": 0.0, "fraction": 0.056, "length": 98.7, "return": -64.9},
}


@pytest.mark.parametrize("scenario", ["7a_7b", "16a_16b"])
def test_random_play_matches_the_reference_table(scenario):
    stats, ref = play(scenario, 256, "random"), REFERENCE[scenario]
    assert stats["success"] == 0.0
    assert abs(stats["fraction"] - ref["fraction"]) < 0.015
    # both means over 200+ episodes: a few standard errors of the difference
    assert abs(stats["length"] - ref["length"]) < 4 * stats["length_std"] / np.sqrt(100)
    assert abs(stats["return"] - ref["return"]) < 4 * stats["return_std"] / np.sqrt(100)


@pytest.mark.parametrize("scenario", ["7a_7b", "16a_16b"])
def test_heuristic_team_far_above_random(scenario):
    random, heuristic = play(scenario, 64, "random"), play(scenario, 64, "heuristic")
    assert heuristic["return"] > random["return"] + 40
    assert heuristic["fraction"] > random["fraction"] + 0.5


# --- PettingZoo and RLlib APIs ------------------------------------------------------------------
def test_pettingzoo_parallel_api_and_seed():
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    parallel_api_test(parallel_env(scenario="2-5a_2-5b"), num_cycles=200)
    # the seed test also steps unmasked samples
    parallel_seed_test(
        lambda: parallel_env(scenario="2-5a_2-5b", teams="random", invalid_action="stay"),
        num_cycles=50,
    )


def test_pettingzoo_aec_api():
    from pettingzoo.test import api_test

    api_test(env(scenario="2-5a_2-5b"), num_cycles=50)


def test_pettingzoo_heuristic_team_completes_buildings():
    par = parallel_env(scenario="7a_7b", invalid_action="raise")
    par.reset(seed=0)
    total, infos = 0.0, {}
    while par.agents:
        _, rewards, _, _, infos = par.step(par.heuristic_actions())
        total += rewards["agent_0"]
    final = infos["agent_0"]
    assert final["fraction_completed"] >= 0.25 and total > -30
    assert 0.0 <= final["fraction_burned"] <= 1.0 - final["fraction_completed"]


def test_pettingzoo_invalid_action_modes():
    def unavailable(par):
        """Each agent's first unavailable action."""
        obs, _ = par.reset(seed=0)
        return {agent: int(np.argmin(o["action_mask"])) for agent, o in obs.items()}

    par = parallel_env()  # "raise" by default
    actions = unavailable(par)
    with pytest.raises(ValueError, match="agent_0.*not available"):
        par.step(actions)
    par, stay = parallel_env(invalid_action="stay"), parallel_env(invalid_action="stay")
    actions = unavailable(par)
    unavailable(stay)
    moved, *_ = par.step(actions)
    stayed, *_ = stay.step(dict.fromkeys(actions, STAY))
    for agent, obs in moved.items():
        np.testing.assert_array_equal(obs["observation"], stayed[agent]["observation"])
    with pytest.raises(ValueError, match="invalid_action must be one of raise, stay; got"):
        parallel_env(invalid_action="ignore")


def test_rgb_frame():
    par = parallel_env(render_mode="rgb_array")
    par.reset(seed=0)
    frame = par.render()
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8 and frame.std() > 10


@pytest.mark.parametrize("scenario", ["7a_7b", "2-5a_2-5b"])
def test_rllib_env_check(scenario):
    """RLlib 2.60's env checker (``check_multiagent_environments``, for ``MultiAgentEnv``) on the
    PettingZoo view through RLlib's wrapper. It steps unmasked samples of the action spaces,
    hence ``invalid_action="stay"``."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    check_multiagent_environments(
        ParallelPettingZooEnv(parallel_env(scenario=scenario, invalid_action="stay"))
    )


def test_gymnasium_checks_on_the_team_view():
    """The team view RLlib trains on is a ``gymnasium.Env``, for which RLlib has no checker of its
    own: gymnasium's checks that step masked actions (its full ``check_env`` steps unmasked
    samples, which the team view rejects by design)."""
    from gymnasium.utils import env_checker, passive_env_checker

    team = make_team_env({"scenario": "7a_7b"})
    env_checker.check_reset_return_type(team)
    env_checker.check_reset_seed_determinism(team)
    env_checker.check_reset_options(team)
    obs, _ = passive_env_checker.env_reset_passive_checker(team, seed=0)
    for _ in range(5):
        obs, *_ = passive_env_checker.env_step_passive_checker(team, heuristic_policy(obs))


def test_registered_creator_builds_both_views():
    from rllib_maaal.envs import env_creator

    create = env_creator("maaal/city")
    single, batched = create({"scenario": "7a_7b"}), create({"num_envs": 3})
    assert single.observation_space["entities"].shape == (15, 70)
    assert batched.num_envs == 3 and batched.observation_space["obs"].shape == (3, 7, 70)


def test_human_rendering_draws_with_matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    par = parallel_env(render_mode="human")
    par.reset(seed=0)
    par.step(par.heuristic_actions())
    par.close()


@pytest.mark.parametrize("obs_layout", ["entity", "flat"])
def test_the_replay_codec_rebuilds_every_observation_exactly(obs_layout):
    env = make_team_env({"scenario": "2-5a_2-5b", "num_envs": 3, "obs_layout": obs_layout})
    codec = env.observation_codec(drop=("rule_action",))
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    history = [obs]
    for _ in range(12):
        scores = rng.random(obs["action_mask"].shape) * obs["action_mask"]
        obs, *_ = env.step({"allocation": obs["rule_allocation"], "action": scores.argmax(-1)})
        history.append(obs)
    stored = [codec.encode_step(o) for o in history]
    steps = {key: np.stack([s[key] for s in stored], axis=1) for key in stored[0]}
    valid = np.ones((3, len(history)), bool)
    valid[1, 8:] = False  # a shorter episode, padded with zeros
    for value in steps.values():
        value[~valid] = 0
    got = codec.decode(steps, codec.encode_constant(history[0]), valid)
    assert set(got) == set(obs) - {"rule_action"}
    for key, value in got.items():
        want = np.stack([o[key] for o in history], axis=1)
        want = np.where(valid.reshape(valid.shape + (1,) * (want.ndim - 2)), want, 0)
        np.testing.assert_array_equal(value, want, err_msg=key)
        assert value.dtype == want.dtype, key
    per_step = sum(value[0, 0].nbytes for value in steps.values())
    assert per_step < sum(value[0].nbytes for value in obs.values()) / 2


def test_a_short_seeded_trajectory_is_pinned():
    """Random play of two 7a_7b cities for 160 steps (one autoreset) digests to what it did before
    the env became a package; a refactor must not change it (``benchmarks/env_trajectories.py``
    compares whole trajectories of two checkouts). A deliberate change of the task updates it."""
    team = make_team_env({"scenario": "7a_7b", "num_envs": 2, "seed": 0})
    obs, _ = team.reset(seed=0)
    rng = np.random.default_rng(0)
    digest = hashlib.sha256()
    for _ in range(160):
        mask, active = obs["action_mask"], obs["subtask_active"][:, None, :]
        allocation = (rng.random((*mask.shape[:2], active.shape[-1])) * active).argmax(-1)
        action = (rng.random(mask.shape) * mask).argmax(-1)
        obs, reward, terminated, truncated, _ = team.step(
            {"allocation": allocation, "action": action}
        )
        for value in (*(obs[key] for key in sorted(obs)), reward, terminated, truncated):
            digest.update(np.ascontiguousarray(value).tobytes())
    assert digest.hexdigest() == "b565cacf51657992317ea55f215256e8e6b4905403a227ace1ed130a8f95374e"


def test_the_kernels_state_refuses_a_missing_or_mistyped_array():
    core = CityCore(2, seed=0)
    arrays = {name: getattr(core, name) for name in kernels.STATE_FIELDS}
    with pytest.raises(
        ValueError, match=r"'health' must be array\(float64, 2d, C\); got .*float32"
    ):
        kernels.city_state({**arrays, "health": core.health.astype(np.float32)})
    arrays["flames"] = arrays.pop("fire")
    with pytest.raises(ValueError, match=r"missing \['fire'\], unknown \['flames'\]"):
        kernels.city_state(arrays)
