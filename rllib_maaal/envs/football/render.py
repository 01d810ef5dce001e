"""A fast top-down picture of a match from raw positions (:class:`PitchRenderer`)."""

from __future__ import annotations

import numpy as np

from rllib_maaal.envs.football.zones import BOX_X, BOX_Y, PITCH_X, PITCH_Y, ZoneTree
from rllib_maaal.envs.rendering import disc, stamp

#: Pixels per engine unit of the 2-D renderer.
RENDER_SCALE = 240
_MARGIN = 0.06
ZONE_COLOURS = np.array(  # no pure red or blue: those are the teams
    [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [188, 189, 34],
        [23, 190, 207],
        [255, 215, 0],
        [127, 127, 127],
    ],
    dtype=np.uint8,
)
OURS, THEIRS, BALL = [30, 80, 230], [220, 30, 30], [255, 255, 255]


def to_pixels(xy: np.ndarray) -> np.ndarray:
    """(..., 2) engine coordinates → (..., 2) integer (row, column) pixels."""
    col = (xy[..., 0] + PITCH_X + _MARGIN) * RENDER_SCALE
    row = (xy[..., 1] + PITCH_Y + _MARGIN) * RENDER_SCALE
    return np.stack([row, col], -1).round().astype(np.int64)


class PitchRenderer:
    """A fast top-down picture of the match from raw positions, drawn with NumPy.

    Zones of the tree are tinted in their colour (active ones stronger); our players are blue
    discs, filled with the colour of the zone they are allocated to when an allocation is given,
    with a white ring; opponents are red discs with a black ring; the ball is white.
    """

    def __init__(self, tree: ZoneTree) -> None:
        self.tree = tree
        height, width = to_pixels(np.array([PITCH_X + _MARGIN, PITCH_Y + _MARGIN])) + 1
        self.shape = (height, width, 3)
        rows, cols = np.mgrid[:height, :width]
        xy = np.stack(
            [cols / RENDER_SCALE - PITCH_X - _MARGIN, rows / RENDER_SCALE - PITCH_Y - _MARGIN], -1
        )
        self._zone_of_pixel = tree.contains(xy).argmax(-1)  # (H, W)
        self._on_pitch = (np.abs(xy[..., 0]) <= PITCH_X) & (np.abs(xy[..., 1]) <= PITCH_Y)
        self._grass = np.where(self._on_pitch[..., None], [24, 66, 24], [12, 36, 12])
        self._lines = self._line_mask(xy)
        self._ring, self._dot, self._ball = disc(7), disc(5), disc(3)

    @staticmethod
    def _line_mask(xy: np.ndarray) -> np.ndarray:
        """Touchlines, goal lines, halfway line and both penalty boxes."""
        x, y = np.abs(xy[..., 0]), np.abs(xy[..., 1])
        w = 1.5 / RENDER_SCALE
        border = ((np.abs(x - PITCH_X) < w) & (y <= PITCH_Y)) | (
            (np.abs(y - PITCH_Y) < w) & (x <= PITCH_X)
        )
        halfway = (np.abs(xy[..., 0]) < w) & (y <= PITCH_Y)
        box = ((np.abs(x - BOX_X) < w) & (y <= BOX_Y)) | (
            (np.abs(y - BOX_Y) < w) & (x >= BOX_X) & (x <= PITCH_X)
        )
        return border | halfway | box

    def render(
        self,
        ours: np.ndarray,
        theirs: np.ndarray,
        ball: np.ndarray,
        active: np.ndarray,
        allocation: np.ndarray | None = None,
        agents: np.ndarray | None = None,
    ) -> np.ndarray:
        """An (H, W, 3) uint8 frame; ``allocation`` (N,) zones of our players ``agents`` (N,)."""
        tint = np.where(active[:, None], 0.45, 0.15) * ZONE_COLOURS[: self.tree.n_subtasks]
        tint = tint[self._zone_of_pixel] * self._on_pitch[..., None]
        frame = (self._grass + tint).astype(np.uint8)
        frame[self._lines] = 235
        fill = np.tile(np.array(OURS, np.uint8), (len(ours), 1))
        if allocation is not None:
            fill[agents] = ZONE_COLOURS[allocation % len(ZONE_COLOURS)]
        stamp(frame, to_pixels(ours), self._ring, np.full((len(ours), 3), 255))
        stamp(frame, to_pixels(ours), self._dot, fill)
        stamp(frame, to_pixels(theirs), self._ring, np.zeros((len(theirs), 3)))
        stamp(frame, to_pixels(theirs), self._dot, np.tile(THEIRS, (len(theirs), 1)))
        stamp(frame, to_pixels(ball[None, :2]), self._ball, np.array([BALL]))
        return frame
