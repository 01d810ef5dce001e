"""NumPy raster drawing shared by the tasks' renderers (fast enough to render every step of an
episode): grid cells, discs and lines for grid worlds, shapes stamped at many points at once, and
the PettingZoo ``render()`` contract (:class:`FrameViewer`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

from rllib_maaal.validation import check_choice

Color = tuple[int, int, int]


def grid_canvas(size: int, cell: int, background: Color, lines: Color) -> np.ndarray:
    """An (size·cell, size·cell, 3) uint8 image with grid lines between cells."""
    image = np.empty((size * cell, size * cell, 3), np.uint8)
    image[:] = background
    image[::cell] = lines
    image[:, ::cell] = lines
    return image


def cell_box(x: int, y: int, cell: int, size: int, inset: int = 0) -> tuple[slice, slice]:
    """Row/column slices of grid cell (x, y), with y pointing up (north) as in the env."""
    row = (size - 1 - y) * cell
    col = x * cell
    return slice(row + inset, row + cell - inset), slice(col + inset, col + cell - inset)


def fill_cell(
    image: np.ndarray, x: int, y: int, cell: int, color: Color, inset: int = 0, fraction: float = 1
) -> None:
    """Fill cell (x, y) (inset by ``inset`` pixels); ``fraction`` < 1 fills only its bottom part."""
    rows, cols = cell_box(x, y, cell, image.shape[0] // cell, inset)
    height = rows.stop - rows.start
    top = rows.stop - int(round(height * min(max(fraction, 0.0), 1.0)))
    image[top : rows.stop, cols] = color


def draw_disc(image: np.ndarray, x: int, y: int, cell: int, color: Color, radius: float) -> None:
    """A filled disc of ``radius`` (in cells) centred on cell (x, y)."""
    rows, cols = cell_box(x, y, cell, image.shape[0] // cell)
    rr, cc = np.mgrid[rows, cols]
    centre_r, centre_c = rows.start + cell / 2 - 0.5, cols.start + cell / 2 - 0.5
    inside = (rr - centre_r) ** 2 + (cc - centre_c) ** 2 <= (radius * cell) ** 2
    image[rr[inside], cc[inside]] = color


def draw_line(
    image: np.ndarray, start: tuple[int, int], end: tuple[int, int], cell: int, color: Color
) -> None:
    """A one-pixel line between the centres of two cells."""
    size = image.shape[0] // cell
    (r0, c0), (r1, c1) = (
        ((size - 1 - y) * cell + cell // 2, x * cell + cell // 2) for x, y in (start, end)
    )
    steps = max(abs(r1 - r0), abs(c1 - c0), 1) + 1
    rows = np.linspace(r0, r1, steps).round().astype(int)
    cols = np.linspace(c0, c1, steps).round().astype(int)
    image[rows, cols] = color


def disc(radius: int) -> np.ndarray:
    """(K, 2) pixel offsets of a filled disc of ``radius`` pixels."""
    grid = np.mgrid[-radius : radius + 1, -radius : radius + 1].reshape(2, -1).T
    return grid[(grid**2).sum(1) <= radius**2]


def stamp(image: np.ndarray, centres: np.ndarray, offsets: np.ndarray, colours: np.ndarray) -> None:
    """Paint a shape (``offsets``, e.g. a :func:`disc`) at every (row, column) centre (P, 2), with
    per-centre colours (P, 3), all at once; pixels off the image are clipped to its border."""
    pixels = (centres[:, None, :] + offsets[None]).reshape(-1, 2)
    pixels = np.clip(pixels, 0, np.array(image.shape[:2]) - 1)
    image[pixels[:, 0], pixels[:, 1]] = np.repeat(colours, len(offsets), axis=0)


class FrameViewer:
    """PettingZoo's ``render()`` for an env that draws NumPy frames.

    ``rgb_array`` returns the frame; ``human`` shows it in a matplotlib window (one per env,
    refreshed at ``fps``); without a render mode, ``render()`` warns and returns None, as
    PettingZoo's envs do.
    """

    def __init__(self, render_mode: str | None, modes: Sequence[str], fps: float = 10) -> None:
        self.render_mode = check_choice("render_mode", render_mode, (None, *modes))
        self.fps = fps
        self._figure = None

    def render(self, draw: Callable[[], np.ndarray]) -> np.ndarray | None:
        """The frame ``draw()`` makes, as the render mode asks."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        frame = draw()
        if self.render_mode == "rgb_array":
            return frame
        import matplotlib.pyplot as plt  # only the human mode needs it

        if self._figure is None:
            self._figure = plt.imshow(frame)
            plt.axis("off")
        else:
            self._figure.set_data(frame)
        plt.pause(1 / self.fps)
        return None

    def close(self) -> None:
        """Close the window, if one is open."""
        if self._figure is not None:
            import matplotlib.pyplot as plt

            plt.close(self._figure.figure)
            self._figure = None
