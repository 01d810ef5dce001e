"""Frames of the intern competition: a bar per intern (height = wellbeing, colour = team)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rllib_maaal.envs.intern.core import InternCore

HEIGHT, BAR = 120, 6  # pixels of the frame's height and of a bar's width


def render_intern(core: InternCore, index: int = 0) -> np.ndarray:
    """A bar per intern of cohort ``index`` (height = wellbeing, colour = team), the target as a
    white line."""
    cfg = core.cfg
    lo, hi = cfg.target - 3.0, cfg.target + 1.0
    level = (np.clip((core.x[index] - lo) / (hi - lo), 0, 1) * (HEIGHT - 1)).astype(int)
    rows = np.arange(HEIGHT)[::-1, None]
    filled = np.repeat(rows <= level[None, :], BAR, axis=1)
    hue = 2 * np.pi * (np.arange(cfg.n_teams)[:, None] / cfg.n_teams + np.array([0, 1, 2]) / 3)
    palette = 127.5 * (1 + np.cos(hue))  # (T, 3) evenly spread hues
    colour = np.repeat(palette[core.agent_unit], BAR, axis=0)
    frame = np.where(filled[..., None], colour[None], 20).astype(np.uint8)
    target_row = HEIGHT - 1 - int((cfg.target - lo) / (hi - lo) * (HEIGHT - 1))
    frame[target_row] = 255
    return frame
