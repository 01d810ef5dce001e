"""Tests of the football task: zone geometry and trees (always), the engine wrapper (football)."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from rllib_maaal.bt import tick_instance
from rllib_maaal.envs.football.zones import (
    BUILTIN_AI,
    SHOT,
    SLIDING,
    ZoneTree,
)

TEN = ZoneTree("10_subtasks")
SIX = ZoneTree("6_subtasks")

# (point, zone of the 10-subtask tree, zone of the 6-subtask tree), pinned to the documented
# geometry: x bands [-inf, -0.686) [-0.686, 0) [0, 0.686) [0.686, inf); y split at 0 (sides) and
# at -0.249 / 0.249 (corners | penalty area | corners).
POINTS = [
    ((-0.30, -0.10), "back_left_side", "back_left_side"),
    ((-0.30, 0.10), "back_right_side", "back_right_side"),
    ((-0.90, -0.30), "back_left_corner", "back_goal_area"),
    ((-0.90, 0.30), "back_right_corner", "back_goal_area"),
    ((-0.90, 0.00), "back_penalty_area", "back_goal_area"),
    ((0.30, -0.10), "front_left_side", "front_left_side"),
    ((0.30, 0.30), "front_right_side", "front_right_side"),
    ((0.90, -0.40), "front_left_corner", "front_goal_area"),
    ((0.90, 0.40), "front_right_corner", "front_goal_area"),
    ((0.90, 0.20), "front_penalty_area", "front_goal_area"),
    # boundaries: intervals are [lo, hi)
    ((0.0, -0.1), "front_left_side", "front_left_side"),
    ((-0.686, 0.0), "back_right_side", "back_right_side"),
    ((0.686, 0.0), "front_penalty_area", "front_goal_area"),
    ((-0.8, -0.249), "back_penalty_area", "back_goal_area"),
    ((-0.8, 0.249), "back_right_corner", "back_goal_area"),
    # off the pitch (ball out of play) still lies in one zone
    ((-1.05, -0.45), "back_left_corner", "back_goal_area"),
    ((1.05, 0.0), "front_penalty_area", "front_goal_area"),
]


@pytest.mark.parametrize(("tree", "column"), [(TEN, 1), (SIX, 2)])
def test_each_point_lies_in_exactly_the_documented_zone(tree, column):
    points = np.array([p[0] for p in POINTS])
    inside = tree.contains(points)
    assert (inside.sum(-1) == 1).all()
    assert [tree.names[m] for m in inside.argmax(-1)] == [p[column] for p in POINTS]


def test_trees_have_five_and_three_zones_per_part():
    assert TEN.n_subtasks == 10 and SIX.n_subtasks == 6
    assert (TEN.part == [0] * 5 + [1] * 5).all()
    assert (SIX.part == [0] * 3 + [1] * 3).all()


def _active_names(tree, ball, part):
    active = tree.active(np.array([ball]), part)[0]
    return {tree.names[m] for m in np.flatnonzero(active)}


BACK_SIDES = {"back_left_side", "back_right_side"}
FRONT_SIDES = {"front_left_side", "front_right_side"}
BACK_GOAL = {"back_left_corner", "back_right_corner", "back_penalty_area"}
FRONT_GOAL = {"front_left_corner", "front_right_corner", "front_penalty_area"}


@pytest.mark.parametrize(
    ("ball", "part", "expected"),
    [
        # full game: the part follows the ball; the goal group joins once the ball is in it
        ((-0.3, 0.1), "full", BACK_SIDES),
        ((-0.9, 0.3), "full", BACK_SIDES | BACK_GOAL),
        ((-0.9, 0.0), "full", BACK_SIDES | BACK_GOAL),
        ((0.0, 0.0), "full", FRONT_SIDES),
        ((0.5, -0.3), "full", FRONT_SIDES),
        ((0.7, -0.3), "full", FRONT_SIDES | FRONT_GOAL),
        # fixed parts ignore which half the ball is in
        ((0.9, 0.0), "back", BACK_SIDES),
        ((-0.9, 0.0), "back", BACK_SIDES | BACK_GOAL),
        ((-0.9, 0.0), "front", FRONT_SIDES),
        ((0.9, 0.0), "front", FRONT_SIDES | FRONT_GOAL),
    ],
)
def test_active_subtasks_of_the_10_subtask_tree(ball, part, expected):
    assert _active_names(TEN, ball, part) == expected


@pytest.mark.parametrize(
    ("ball", "part", "expected"),
    [
        ((-0.3, 0.1), "full", BACK_SIDES),
        ((-0.8, 0.4), "full", BACK_SIDES | {"back_goal_area"}),
        ((0.2, 0.0), "full", FRONT_SIDES),
        ((0.8, 0.0), "full", FRONT_SIDES | {"front_goal_area"}),
        ((0.8, 0.0), "back", BACK_SIDES),
        ((-0.8, 0.0), "front", FRONT_SIDES),
    ],
)
def test_active_subtasks_of_the_6_subtask_tree(ball, part, expected):
    assert _active_names(SIX, ball, part) == expected


@pytest.mark.parametrize("tree", [TEN, SIX])
@pytest.mark.parametrize("part", ["back", "front", "full"])
def test_batched_tick_matches_py_trees(tree, part):
    balls = np.random.default_rng(0).uniform([-1.1, -0.5], [1.1, 0.5], (64, 2))
    batched = tree.active(balls, part)
    for ball, active in zip(balls, batched, strict=True):
        in_front = ball[0] >= 0
        part_on = {"back": [1, 0], "front": [0, 1], "full": [not in_front, in_front]}[part]
        conditions = {
            "part_on": np.array(part_on, bool),
            "ball_in_goal_area": np.array([-ball[0] >= 0.686, ball[0] >= 0.686]),
        }
        assert (tick_instance(tree.root, conditions, tree.n_subtasks) == active).all()


@pytest.mark.parametrize("tree", [TEN, SIX])
def test_defence_may_not_shoot_and_attack_may_not_slide(tree):
    back, front = tree.action_mask[tree.part == 0], tree.action_mask[tree.part == 1]
    assert not back[:, SHOT].any() and back[:, SLIDING].all()
    assert not front[:, SLIDING].any() and front[:, SHOT].all()
    assert tree.action_mask[:, BUILTIN_AI].all()
    assert tree.action_mask.sum(-1).tolist() == [19] * tree.n_subtasks
    assert (tree.compiled.action_mask == tree.action_mask).all()


def test_rule_allocation_is_the_nearest_active_zone():
    active = TEN.active(np.array([[-0.3, 0.0]]), "full")  # back sides only
    players = np.array(
        [
            [
                [-0.3, -0.2],  # inside back_left_side
                [-0.3, 0.2],  # inside back_right_side
                [-0.9, -0.35],  # left corner (inactive): 0.214 from the left side
                [-0.9, 0.1],  # penalty area (inactive): nearest is the right side
                [0.5, -0.05],  # front half: the left side is 0.5 away, the right 0.5 + 0.05
            ]
        ]
    )
    names = [TEN.names[m] for m in TEN.nearest_active(players, active)[0]]
    assert names == [
        "back_left_side",
        "back_right_side",
        "back_left_side",
        "back_right_side",
        "back_left_side",
    ]
    np.testing.assert_allclose(TEN.distance(players)[0, 2, 0], 0.214, atol=1e-9)


def test_subtask_status_counts_ball_players_and_allocation():
    ball = np.array([[0.9, 0.0]])  # front penalty area
    ours = np.zeros((1, 11, 2))
    ours[0, :3] = [0.9, 0.1]  # three of ours in the penalty area, the rest at the kick-off spot
    theirs = np.full((1, 11, 2), [-0.9, 0.0])  # all of theirs in our penalty area
    allocation = np.array([[9] * 4 + [5] * 6])
    status = TEN.status(ball, np.array([1]), ours, theirs, allocation)
    assert status.shape == (1, 10, 6) and status.dtype == np.float32
    penalty, back_penalty, front_right = 9, 4, 6
    np.testing.assert_allclose(status[0, penalty], [1, 0, 1, 3 / 11, 0, 4 / 10])
    np.testing.assert_allclose(status[0, back_penalty], [0, 0, 0, 0, 1, 0])
    np.testing.assert_allclose(status[0, front_right], [0, 0, 0, 8 / 11, 0, 0])  # (0, 0): right
    assert status[0, :, 0].sum() == 1


def test_bad_tree_and_part_name_the_allowed_values():
    with pytest.raises(ValueError, match="10_subtasks"):
        ZoneTree("3_subtasks")
    with pytest.raises(ValueError, match="back"):
        TEN.active(np.zeros((1, 2)), "middle")


# --------------------------------------------------------------------------- with the engine


def test_the_zones_import_without_the_engine(monkeypatch):
    monkeypatch.setitem(sys.modules, "gfootball_engine", None)  # as if not installed
    for module in [m for m in sys.modules if m.startswith("rllib_maaal.envs.football")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.delattr(importlib.import_module("rllib_maaal.envs"), "football", raising=False)
    zones = importlib.import_module("rllib_maaal.envs.football.zones")
    assert zones.ZoneTree("6_subtasks").n_subtasks == 6
    football = importlib.import_module("rllib_maaal.envs.football")
    with pytest.raises(ImportError, match="the football task needs gfootball"):
        football.make_team_env  # noqa: B018 - the attribute loads the engine


@pytest.fixture(scope="module")
def football():
    pytest.importorskip("gfootball")
    from rllib_maaal.envs import football

    return football


@pytest.fixture(scope="module")
def team_env(football):
    env = football.make_team_env({"part": "back", "allocation_interval": 3})
    yield env
    env.close()


@pytest.mark.football
def test_parallel_api(football):
    from pettingzoo.test import parallel_api_test

    env = football.parallel_env()
    parallel_api_test(env, num_cycles=20)
    env.close()


@pytest.mark.football
@pytest.mark.filterwarnings("ignore:Agent's m.* observation space value is")  # unbounded Box
def test_aec_api(football):
    from pettingzoo.test import api_test

    env = football.env()
    api_test(env, num_cycles=5)
    env.close()


@pytest.mark.football
def test_parallel_seed(football):
    from pettingzoo.test import parallel_seed_test

    parallel_seed_test(football.parallel_env, num_cycles=20)


@pytest.mark.football
def test_our_agents_are_the_ten_outfield_players_with_fixed_controllers(football):
    env = football.parallel_env()
    obs, infos = env.reset(seed=1)
    match = env.match
    assert env.possible_agents == [f"player_{k}" for k in range(1, 11)]
    assert match.raw["left_team_roles"][0] == 0  # index 0 is our goalkeeper, on the AI
    assert (match.raw["left_team_roles"][match.players] != 0).all()  # none of ours is a keeper
    assert obs["player_3"].shape == (123,) and env.state().shape == (117,)
    # the per-agent features are centred on the agent: its team-mates relative to itself
    own = obs["player_3"][:2]
    np.testing.assert_allclose(own, match.ours[3], atol=1e-6)
    np.testing.assert_allclose(obs["player_3"][19 + 6 : 21 + 6], [0, 0], atol=1e-6)
    assert infos["player_1"]["score"].tolist() == [0, 0]
    for _ in range(30):
        env.step(dict.fromkeys(env.agents, 19))
        raw = env.match.engine.observation()
        assert [o["active"] for o in raw] == list(range(1, 11))  # no controller switching
    env.close()


@pytest.mark.football
def test_bad_config_names_the_field(football):
    with pytest.raises(ValueError, match="11_vs_11_stochastic"):
        football.parallel_env(scenario="12_vs_12")
    with pytest.raises(ValueError, match="rewards"):
        football.make_team_env({"rewards": "goals"})
    with pytest.raises(ValueError, match="got .scenaro. .did you mean .scenario."):
        football.make_team_env({"scenaro": "11_vs_11_stochastic"})
    with pytest.raises(ValueError, match="part must be one of"):
        football.make_team_env({"part": "middle"})
    with pytest.raises(ValueError, match="num_envs"):
        football.make_team_env({"num_envs": 0})


@pytest.mark.football
def test_same_seed_same_match(football):
    env = football.parallel_env()
    trajectories = []
    for _ in range(2):
        obs, _ = env.reset(seed=7)
        for _ in range(40):
            obs, *_ = env.step(dict.fromkeys(env.agents, 19))
        trajectories.append(env.state().copy())
    env.reset(seed=8)
    for _ in range(40):
        env.step(dict.fromkeys(env.agents, 19))
    np.testing.assert_array_equal(trajectories[0], trajectories[1])
    assert not np.array_equal(trajectories[0], env.state())
    env.close()


@pytest.mark.football
def test_team_view_contract_and_decision_timing(football, team_env):
    obs, _ = team_env.reset(seed=3)
    assert team_env.observation_space.contains(obs)
    assert obs["obs"].shape == (10, 123) and obs["subtask_status"].shape == (10, 6)
    assert obs["decide"][0] == 1
    decides, actives = [], []
    for _ in range(9):
        action = football.fixed_bt_policy(obs)
        if obs["decide"][0]:
            adopted = action["allocation"]
        obs, reward, terminated, truncated, info = team_env.step(action)
        decides.append(int(obs["decide"][0]))
        actives.append(obs["subtask_active"].copy())
    assert team_env.observation_space.contains(obs)
    assert set(info) >= {"score", "game_mode", "ball_owned_team", "subtask_reward"}
    # part=back, kick-off in the centre circle: only the back sides are active all along
    assert all((a == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]).all() for a in actives)
    assert decides == [0, 0, 1] * 3  # allocation_interval=3
    assert (obs["allocation"] == adopted).all()
    assert (obs["rule_action"] == 19).all()


@pytest.mark.football
def test_team_view_pair_is_each_players_distance_to_each_zone(football, team_env):
    obs, _ = team_env.reset(seed=3)
    distance = obs["pair"][..., 0]
    assert obs["pair"].shape == (10, 10, 1) and (distance >= 0).all()
    # the rule allocation is the nearest active zone: the smallest distance among the active
    nearest = np.where(obs["subtask_active"] > 0, distance, np.inf).argmin(-1)
    assert (nearest == obs["rule_allocation"]).all()


@pytest.mark.football
def test_allocation_must_point_at_active_subtasks_when_deciding(football, team_env):
    obs, _ = team_env.reset(seed=4)
    action = football.fixed_bt_policy(obs)
    bad = {**action, "allocation": np.full(10, 9)}  # front penalty area: inactive in part=back
    with pytest.raises(ValueError, match="player_1.*not an active subtask"):
        team_env.step(bad)
    obs, *_ = team_env.step(action)
    assert obs["decide"][0] == 0
    obs, *_ = team_env.step(bad)  # no decision due: the allocation in force is kept
    assert (obs["allocation"] == action["allocation"]).all()


@pytest.mark.football
def test_render_draws_players_ball_and_zones(football):
    from rllib_maaal.envs.football import render

    env = football.make_team_env({"render_mode": "rgb_array"})
    env.reset(seed=0)
    frame = env.render()
    env.close()
    assert frame.dtype == np.uint8 and frame.shape == (231, 510, 3)
    assert (frame == render.THEIRS).all(-1).sum() > 11 * 40

    renderer = render.PitchRenderer(TEN)
    ours = np.stack([np.linspace(-0.9, 0.9, 11), np.full(11, -0.3)], -1)
    theirs = ours * [1, -1]
    allocation = np.arange(10)
    active = TEN.active(np.array([[-0.9, 0.0]]), "full")[0]
    frame = renderer.render(
        ours, theirs, np.array([0.0, 0.0, 0.1]), active, allocation, 1 + allocation
    )
    row, col = render.to_pixels(ours).T
    assert (frame[row[1:], col[1:]] == render.ZONE_COLOURS[allocation]).all()
    assert (frame[row[0], col[0]] == render.OURS).all()  # our keeper, not allocated
    row, col = render.to_pixels(theirs).T
    assert (frame[row, col] == render.THEIRS).all()
    assert (frame[render.to_pixels(np.zeros(2))[0], render.to_pixels(np.zeros(2))[1]] == 255).all()
    # zones are tinted in their colour: 0.45 of it while active, 0.15 while not
    rows, cols = render.to_pixels(np.array([[-0.3, -0.1], [0.3, -0.1]])).T
    grass = np.array([24, 66, 24])
    colours = render.ZONE_COLOURS[[0, 5]]
    expected = (grass + np.array([[0.45], [0.15]]) * colours).astype(np.uint8)
    assert (frame[rows, cols] == expected).all()


@pytest.mark.football
def test_vector_team_env_sync(football):
    env = football.make_team_env({"num_envs": 2, "vectorize": "sync"})
    obs, _ = env.reset(seed=0)
    assert obs["obs"].shape == (2, 10, 123)
    obs, reward, terminated, truncated, _ = env.step(football.fixed_bt_policy(obs))
    assert reward.shape == (2,) and not terminated.any()
    env.close()


@pytest.mark.football
def test_full_match_with_builtin_ai_reports_the_score(football):
    env = football.make_team_env({})
    obs, _ = env.reset(seed=0)
    steps, total_reward, done = 0, 0.0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(football.fixed_bt_policy(obs))
        steps, total_reward, done = steps + 1, total_reward + reward, terminated or truncated
    env.close()
    assert steps == 3001 and terminated
    goals_for, goals_against = info["score"]
    assert total_reward == goals_for - goals_against  # once per goal, not once per player


@pytest.mark.football
def test_registered_creator_builds_the_6_subtask_team_view(football):
    from rllib_maaal.envs import env_creator

    env = env_creator("maaal/football")({"tree": "6_subtasks", "part": "front"})
    obs, _ = env.reset(seed=0)
    assert obs["subtask_status"].shape == (6, 6) and obs["subtask_action_mask"].shape == (6, 20)
    assert obs["subtask_active"].tolist() == [0, 0, 0, 1, 1, 0]
    assert env.observation_space.contains(obs)
    env.close()


@pytest.mark.football
def test_a_goal_is_rewarded_once_not_once_per_player(football):
    env = football.parallel_env(scenario="academy_3_vs_1_with_keeper")
    env.reset(seed=1)  # the built-in AI scores in this episode
    total = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        _, rewards, _, _, infos = env.step(dict.fromkeys(env.agents, 19))
        total = {agent: total[agent] + rewards[agent] for agent in total}
    env.close()
    assert infos["player_1"]["score"].tolist() == [1, 0]
    assert total == dict.fromkeys(env.possible_agents, 1.0)


@pytest.mark.football
def test_play_matches_counts_wins_and_goals(football):
    config = {"scenario": "academy_3_vs_1_with_keeper"}
    result = football.play_matches(football.fixed_bt_policy, n=2, workers=1, config=config)
    assert result["goals"] == [[0, 0], [1, 0]]  # seeds 0 and 1 (see the single-goal test)
    assert result["win_rate"] == 0.5 and result["draw_rate"] == 0.5 and result["loss_rate"] == 0
    assert result["goals_for"] == 0.5 and result["goals_against"] == 0
    with pytest.raises(ValueError, match="workers"):
        football.play_matches(n=1, workers=0)


@pytest.mark.football
def test_static_allocation_decides_only_at_kick_off(football):
    team_env = football.make_team_env({"allocation_interval": 0, "seed": 0})
    obs, _ = team_env.reset(seed=0)
    assert obs["decide"][0] == 1
    decides = []
    for _ in range(60):  # the ball leaves the centre: the active zones change meanwhile
        obs, *_ = team_env.step(football.fixed_bt_policy(obs))
        decides.append(int(obs["decide"][0]))
    assert not any(decides)
