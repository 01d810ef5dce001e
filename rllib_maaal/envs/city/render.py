"""Frames of the city task, drawn with the grid helpers of :mod:`rllib_maaal.envs.rendering`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rllib_maaal.envs import rendering
from rllib_maaal.envs.city.kernels import CELL_XY, GRID

if TYPE_CHECKING:
    from rllib_maaal.envs.city.core import CityCore

#: The PettingZoo and team views' render modes.
RENDER_MODES = ("human", "rgb_array")
CELL = 32  # pixels per grid cell
AGENT_COLOURS = ((220, 40, 40), (40, 80, 230), (150, 60, 190))  # firefighter, builder, generalist


def render_city(core: CityCore, index: int = 0, allocation_lines: bool = True) -> np.ndarray:
    """An RGB frame of city ``index``: buildings (health bar, fire, green when complete,
    black when burned down), agents by type (red firefighter, blue builder, purple
    generalist), and optionally a line from each agent to its allocated building."""
    image = rendering.grid_canvas(GRID, CELL, (235, 235, 228), (205, 205, 198))
    for k in np.flatnonzero(core.building_mask[index]):
        x, y = CELL_XY[core.building_cell[index, k]]
        if core.burned[index, k]:
            rendering.fill_cell(image, x, y, CELL, (30, 30, 30), inset=1)
            continue
        rendering.fill_cell(image, x, y, CELL, (150, 150, 150), inset=1)
        color = (40, 170, 60) if core.complete[index, k] else (90, 120, 200)
        rendering.fill_cell(image, x, y, CELL, color, inset=1, fraction=core.health[index, k])
        if core.fire[index, k] > 0:
            inset = int(CELL * (0.5 - 0.35 * core.fire[index, k]))
            rendering.fill_cell(image, x, y, CELL, (245, 120, 20), inset=max(inset, 2))
    agents = np.flatnonzero(core.agent_mask[index])
    if allocation_lines:
        for i in agents:
            k = core.allocation[index, i] % core.n_buildings
            start, end = (
                tuple(CELL_XY[c]) for c in (core.agent_cell[index, i], core.building_cell[index, k])
            )
            rendering.draw_line(image, start, end, CELL, AGENT_COLOURS[core.agent_type[index, i]])
    for i in agents:
        x, y = CELL_XY[core.agent_cell[index, i]]
        rendering.draw_disc(image, x, y, CELL, AGENT_COLOURS[core.agent_type[index, i]], 0.35)
    return image
