"""``render_mode="rgb_array"``: a picture of one session drawn with numpy, so video recorders work.

From top to bottom: the candidates (one cell per candidate, coloured by topic, dark for those not shown), the
last slate (its items, the chosen one framed in white, an empty slot grey), the user's time budget (a bar,
green while it lasts), fatigue per topic (bars) and the latent interests (bars up for positive, down for
negative, around a midline).
"""

from __future__ import annotations

import colorsys

import numpy as np

WIDTH, HEIGHT = 320, 240
BACKGROUND = np.array([24, 24, 28], dtype=np.uint8)
WHITE = np.array([255, 255, 255], dtype=np.uint8)
GREY = np.array([90, 90, 96], dtype=np.uint8)


def topic_colours(count: int) -> np.ndarray:
    """``count`` distinct colours ``(count, 3)`` uint8, evenly spaced in hue."""
    return np.array(
        [[round(255 * c) for c in colorsys.hsv_to_rgb(i / max(count, 1), 0.65, 0.95)] for i in range(count)],
        dtype=np.uint8,
    )


def _box(image: np.ndarray, top: int, left: int, height: int, width: int, colour: np.ndarray) -> None:
    image[max(top, 0) : max(top + height, 0), max(left, 0) : max(left + width, 0)] = colour


def _bars(image: np.ndarray, top: int, height: int, values: np.ndarray, colour: np.ndarray, centred: bool) -> None:
    """One bar per value in ``[0, 1]`` (``centred``: in ``[-1, 1]``, around a midline) across the width."""
    count = max(len(values), 1)
    width = max((WIDTH - 20) // count, 1)
    middle = top + height // 2
    for i, value in enumerate(np.clip(np.nan_to_num(values), -1.0 if centred else 0.0, 1.0)):
        left = 10 + i * width
        if centred:
            size = round(abs(value) * (height // 2))
            _box(image, middle - size if value > 0 else middle, left, size, max(width - 1, 1), colour)
        else:
            size = round(value * height)
            _box(image, top + height - size, left, size, max(width - 1, 1), colour)
    if centred:
        _box(image, middle, 10, 1, WIDTH - 20, GREY)


def render_session(world, sessions, last: tuple | None) -> np.ndarray:
    """The picture ``(HEIGHT, WIDTH, 3)`` uint8 of the first session of ``sessions`` in ``world``; ``last`` is
    the last step's ``(slate, candidates shown, reward, info)`` or ``None`` before the first step."""
    image = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    catalog, config = world.catalog, world.config
    colours = topic_colours(config.num_topics)
    candidates = sessions.candidates[0]
    cell = max((WIDTH - 20) // len(candidates), 2)
    for i, item in enumerate(candidates):
        _box(image, 10, 10 + i * cell, 24, cell - 2, colours[catalog.topics[item]] // 2)
    if last is not None:
        slate, shown, _, info = last
        slot = min(48, (WIDTH - 20) // len(slate))
        seen: set[int] = set()
        for k, position in enumerate(slate):
            left = 10 + k * slot
            if int(position) in seen:
                _box(image, 44, left, 40, slot - 6, GREY)
                continue
            seen.add(int(position))
            item = shown[position]
            if info.get("item") == item and info.get("clicked"):
                _box(image, 42, left - 2, 44, slot - 2, WHITE)
            _box(image, 44, left, 40, slot - 6, colours[catalog.topics[item]])
    budget = float(np.clip(sessions.users.budget[0] / config.time_budget, 0.0, 1.0))
    _box(image, 96, 10, 12, WIDTH - 20, GREY)
    _box(image, 96, 10, 12, round(budget * (WIDTH - 20)), np.array([70, 200, 90], dtype=np.uint8))
    fatigue = sessions.users.fatigue[0]
    _bars(image, 118, 50, fatigue / max(float(fatigue.max()), 1.0), np.array([230, 140, 60], dtype=np.uint8), False)
    interest = sessions.users.interest[0]
    scale = max(float(np.abs(interest).max()), 1e-9)
    _bars(image, 176, 56, interest / scale, np.array([90, 150, 240], dtype=np.uint8), True)
    return image
