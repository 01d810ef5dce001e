"""The examples' own computations (their end-to-end runs need a trained checkpoint)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from rllib_maaal.envs.city.kernels import FAST_TYPE, N_FEATURES, SLOW_TYPE

EXAMPLES = Path(__file__).parents[1] / "examples"


def example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_standing_buildings_describes_only_the_unfinished_real_buildings():
    scripted = example("scripted_actions")
    # 3 steps, 4 building slots: complete (fast), burned down (fast), standing (slow), padding
    b = np.zeros((3, 4, N_FEATURES), np.float32)
    b[:, 0, FAST_TYPE] = b[:, 1, FAST_TYPE] = b[:, 2, SLOW_TYPE] = 1
    b[-1, 0, scripted.COMPLETE] = 1
    b[-1, 1, scripted.BURNED] = 1
    b[:, 2, scripted.HEALTH] = [0.3, 0.8, 0.5]
    b[:, 2, scripted.FIRE] = [0.0, 0.0, 1.0]
    finished = b.copy()
    finished[-1, 2, scripted.COMPLETE] = 1
    scores = scripted.standing_buildings([b, finished])
    assert scores["standing_per_episode"] == 0.5
    assert scores["standing_health_end"] == pytest.approx(0.5)
    assert scores["standing_health_peak"] == pytest.approx(0.8)
    assert scores["standing_slow_burn"] == 1.0
    assert scores["standing_steps_on_fire"] == pytest.approx(1 / 3)
    assert scripted.standing_buildings([finished]) == {"standing_per_episode": 0.0}
