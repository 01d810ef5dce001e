"""NumPy raster drawing for grid worlds (fast enough to render every step of an episode)."""

from __future__ import annotations

import numpy as np

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
