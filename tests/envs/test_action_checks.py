"""Strict inputs: every env refuses garbage actions with one clear error, and never yields NaN.

The PettingZoo envs of city, intern and football share ``team.check_agent_actions``; the team
views share ``team.integer_array``. The football cases need the engine (``football`` marker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_maaal.envs import city, intern
from rllib_maaal.envs.team import check_agent_actions, integer_array


def _football_module():
    """The football module, or a skip where the engine is not installed."""
    pytest.importorskip("gfootball")
    from rllib_maaal.envs import football

    return football


def _football(**config: Any):
    return _football_module().parallel_env(**config)


#: Small, fast instances; intern's episode lasts 2 days so that the fuzz test reaches its end.
FACTORIES: dict[str, Callable[[], Any]] = {
    "city": lambda: city.parallel_env(scenario="2-5a_2-5b"),
    "intern": lambda: intern.parallel_env(n_teams=2, team_size=2, n_weeks=1, days_per_week=2),
    "football": _football,
}
ENV_NAMES = ["city", "intern", pytest.param("football", marks=pytest.mark.football)]


@pytest.fixture(params=ENV_NAMES)
def fresh_env(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A new env of each task, never reset."""
    env = FACTORIES[request.param]()
    yield env
    env.close()


@pytest.fixture(scope="module", params=ENV_NAMES)
def shared_env(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One env per task for the fuzz examples (each example resets it with its own seed)."""
    env = FACTORIES[request.param]()
    yield env
    env.close()


def n_actions(env: Any) -> int:
    return int(env.action_space(env.possible_agents[0]).n)


def available(env: Any, obs: dict[str, Any], agent: str) -> list[int]:
    """The actions ``agent`` may take now (city masks them; intern and football do not)."""
    observation = obs[agent]
    if isinstance(observation, dict):
        return np.flatnonzero(observation["action_mask"]).tolist()
    return list(range(n_actions(env)))


def valid_actions(env: Any, obs: dict[str, Any]) -> dict[str, int]:
    return {agent: available(env, obs, agent)[0] for agent in env.agents}


def assert_finite(tree: Any) -> None:
    if isinstance(tree, dict):
        for value in tree.values():
            assert_finite(value)
    else:
        assert np.all(np.isfinite(np.asarray(tree, float)))


# --- the shared check ---------------------------------------------------------------------------
LIVE = ["firefighter_0", "builder_1"]


@pytest.mark.parametrize(
    "value", [3, np.int64(3), np.uint8(3), np.int32(0), np.array(5), np.array(2, np.int16)]
)
def test_python_and_numpy_integers_are_accepted(value):
    checked = check_agent_actions({"builder_1": 1, "firefighter_0": value}, LIVE, 6, started=True)
    assert checked.dtype == np.int64 and checked.tolist() == [int(value), 1]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (2.5, "2.5 (float)"),
        (2.0, "2.0 (float)"),
        (np.float32(1.0), "1.0 (float32)"),
        (float("nan"), "nan (float)"),
        ("1", "'1' (str)"),
        (None, "None (NoneType)"),
        (True, "True (bool)"),
        (np.bool_(False), "False (bool)"),
        ([1], "[1] (list)"),
        (np.array([1]), "array([1]) (ndarray)"),
        (np.array(1.0), "1.0 (float64)"),
        (6, "6 (int)"),
        (-1, "-1 (int)"),
        pytest.param(10**5000, "an int of 16610 bits (int)", id="huge-int"),
    ],
)
def test_garbage_action_names_the_agent_and_the_allowed_values(value, shown):
    with pytest.raises(ValueError) as error:
        check_agent_actions({"firefighter_0": value, "builder_1": 0}, LIVE, 6, started=True)
    assert str(error.value) == f"agent 'firefighter_0' action must be an int in [0, 6); got {shown}"


def test_episode_state_and_agent_names_are_checked_first():
    with pytest.raises(ValueError, match=r"^call reset\(\) before step\(\)$"):
        check_agent_actions({}, [], 6, started=False)
    with pytest.raises(ValueError, match=r"^episode is over; call reset\(\)$"):
        check_agent_actions({"firefighter_0": 0}, [], 6, started=True)
    with pytest.raises(ValueError, match="actions must be a dict.*got \\[0, 1\\]"):
        check_agent_actions([0, 1], LIVE, 6, started=True)
    with pytest.raises(ValueError, match=r"not in the episode: \['medic_2'\]; live agents: \["):
        check_agent_actions({"medic_2": 0, "firefighter_0": 0}, LIVE, 6, started=True)
    with pytest.raises(ValueError, match=r"actions missing for \['builder_1'\]"):
        check_agent_actions({"firefighter_0": 0}, LIVE, 6, started=True)


def test_team_view_arrays_must_have_an_integer_dtype():
    assert integer_array("action", np.arange(3, dtype=np.uint8)).dtype == np.int64
    for bad, dtype in ((np.zeros(3), "float64"), (np.ones(3, bool), "bool"), ([None], "object")):
        with pytest.raises(ValueError, match=f"action must be integers, got dtype {dtype}"):
            integer_array("action", bad)
    with pytest.raises(ValueError, match="allocation must be a rectangular integer array"):
        integer_array("allocation", [[1, 2], [3]])


# --- every env, explicitly ----------------------------------------------------------------------
def test_step_before_reset_is_an_error(fresh_env):
    with pytest.raises(ValueError, match=r"call reset\(\) before step\(\)"):
        fresh_env.step(dict.fromkeys(fresh_env.possible_agents, 0))


def test_missing_unknown_and_bool_actions_are_errors(fresh_env):
    obs, _ = fresh_env.reset(seed=0)
    actions = valid_actions(fresh_env, obs)
    first = fresh_env.agents[0]
    with pytest.raises(ValueError, match=f"actions missing for \\['{first}'\\]"):
        fresh_env.step({a: v for a, v in actions.items() if a != first})
    with pytest.raises(ValueError, match="not in the episode: \\['ghost'\\]"):
        fresh_env.step({**actions, "ghost": 0})
    with pytest.raises(ValueError, match=f"agent '{first}' action must be an int.*True \\(bool\\)"):
        fresh_env.step({**actions, first: True})
    fresh_env.step(actions)  # the refused steps changed nothing


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: city.parallel_env(scenario="2-5a_2-5b"), id="city"),
        pytest.param(lambda: intern.parallel_env(n_weeks=1), id="intern"),
        pytest.param(
            lambda: _football(scenario="academy_empty_goal_close"),
            marks=pytest.mark.football,
            id="football",
        ),
    ],
)
def test_step_after_the_end_is_an_error(make):
    env = make()
    obs, _ = env.reset(seed=0)
    while env.agents:  # city: 150 steps at most; intern: 7 days; this football scenario: 400
        obs, *_ = env.step(valid_actions(env, obs))
    with pytest.raises(ValueError, match=r"episode is over; call reset\(\)"):
        env.step({})
    env.reset(seed=1)
    assert env.agents
    env.close()


# --- every team view --------------------------------------------------------------------------
def _football_team_view() -> tuple[Any, Callable[[dict], dict]]:
    football = _football_module()
    return football.make_team_env(
        {"scenario": "academy_empty_goal_close"}
    ), football.fixed_bt_policy


def _intern_policy(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"allocation": obs["rule_allocation"], "action": np.zeros_like(obs["agent_unit"])}


#: A team view of each task (one episode in at most 400 steps) and a valid policy for it.
TEAM_VIEWS = [
    pytest.param(
        lambda: (city.make_team_env({"scenario": "2-5a_2-5b"}), city.heuristic_policy), id="city"
    ),
    pytest.param(lambda: (intern.make_team_env({"n_weeks": 1}), _intern_policy), id="intern"),
    pytest.param(_football_team_view, marks=pytest.mark.football, id="football"),
]


@pytest.mark.parametrize("make", TEAM_VIEWS)
def test_team_view_refuses_non_integer_arrays_and_steps_outside_an_episode(make):
    team, policy = make()
    with pytest.raises(ValueError, match="0 has no episode running: reset it before stepping"):
        team.step(policy(team.observation_space.sample()))
    obs, _ = team.reset(seed=0)
    action = policy(obs)
    for key, bad in (("action", 0.0), ("action", False), ("allocation", 0.0)):
        with pytest.raises(ValueError, match=f"{key}s? must be integers, got dtype"):
            team.step({**action, key: np.full_like(action[key], bad, dtype=type(bad))})
    done = False
    while not done:
        obs, reward, terminated, truncated, _ = team.step(policy(obs))
        assert np.isfinite(reward)
        done = terminated or truncated
    with pytest.raises(ValueError, match="0 has no episode running: reset it before stepping"):
        team.step(policy(obs))
    team.close()


# --- every env, fuzzed ----------------------------------------------------------------------------
def out_of_range(n: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(max_value=-1), st.integers(min_value=n))


def garbage(n: int) -> st.SearchStrategy[Any]:
    """Values that are no action index: wrong types (some of them look like one) or out of range."""
    index = st.integers(0, n - 1)
    return st.one_of(
        st.floats(),  # nan and ±inf included
        index.map(float),
        index.map(np.float32),
        index.map(lambda v: np.array(float(v))),
        index.map(str),
        st.text(max_size=4),
        st.booleans(),
        st.booleans().map(np.bool_),
        st.none(),
        out_of_range(n),
        out_of_range(n).filter(lambda v: abs(v) < 2**63).map(np.int64),
        st.lists(index, max_size=2),
        index.map(lambda v: np.array([v])),
        index.map(complex),
    )


def integer(values: list[int]) -> st.SearchStrategy[Any]:
    """An available action as any of the accepted integer types."""
    return st.sampled_from(values).flatmap(
        lambda v: st.sampled_from([v, np.int64(v), np.int8(v), np.uint16(v), np.array(v)])
    )


#: Names that are never live: player_0 is football's goalkeeper (on the AI), city 2-5a has 5 agents.
STRANGERS = st.sampled_from(["ghost", "agent_7", "intern_99", "player_0", "", 0, None, 2.5])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fuzzed_steps_give_our_errors_or_finite_results(shared_env, data):
    env, n = shared_env, n_actions(shared_env)
    obs, _ = env.reset(seed=data.draw(st.integers(0, 3), label="seed"))
    for _ in range(data.draw(st.integers(1, 4), label="steps")):
        if not env.agents:
            with pytest.raises(ValueError, match=r"episode is over; call reset\(\)"):
                env.step({})
            return
        if data.draw(st.booleans(), label="all valid"):
            kinds, strangers = dict.fromkeys(env.agents, "valid"), []
        else:
            kind = st.sampled_from(["valid", "valid", "garbage", "missing"])
            kinds = {agent: data.draw(kind, label=agent) for agent in env.agents}
            strangers = data.draw(st.lists(STRANGERS, max_size=2, unique=True), label="strangers")
        actions = {
            agent: data.draw(integer(available(env, obs, agent)) if kind == "valid" else garbage(n))
            for agent, kind in kinds.items()
            if kind != "missing"
        }
        actions.update(dict.fromkeys(strangers, 0))
        missing = [agent for agent, kind in kinds.items() if kind == "missing"]
        bad = [agent for agent, kind in kinds.items() if kind == "garbage"]
        if strangers or missing or bad:
            with pytest.raises(ValueError) as error:
                env.step(actions)
            message = str(error.value)
            assert "\n" not in message
            if strangers:
                assert f"not in the episode: [{strangers[0]!r}" in message
            elif missing:
                assert f"actions missing for [{missing[0]!r}" in message
            else:
                assert message.startswith(f"agent {bad[0]!r} action must be an int in [0, {n})")
        else:
            obs, rewards, terminations, truncations, infos = env.step(actions)
            assert_finite(obs)
            assert_finite(rewards)
