"""Headless numpy rendering of a SMACSim battle: terrain, units (allies blue, enemies red), health/shield bars, attacks.

>>> from trmarl.envs.smacsim import StarCraft2Env
>>> frame = StarCraft2Env("3m").render("rgb_array")
>>> frame.shape, frame.dtype.name
((512, 512, 3), 'uint8')
"""

from __future__ import annotations

import numpy as np

from trmarl.envs.smacsim.engine import F_HP, F_RADIUS, F_RANGE, F_SH, O_ATTACK, O_HEAL, Battle

__all__ = ["render_battle"]

_ALLY = np.array([60, 110, 230], dtype=np.uint8)
_ENEMY = np.array([220, 60, 50], dtype=np.uint8)
_DEAD = np.array([90, 90, 90], dtype=np.uint8)
_WALK = np.array([214, 206, 180], dtype=np.uint8)
_WALL = np.array([70, 66, 60], dtype=np.uint8)
_HP = np.array([40, 200, 60], dtype=np.uint8)
_SH = np.array([80, 200, 250], dtype=np.uint8)
_LASER = np.array([255, 230, 40], dtype=np.uint8)
_HEAL = np.array([120, 255, 160], dtype=np.uint8)


def _disc(img: np.ndarray, cx: float, cy: float, r: float, color: np.ndarray) -> None:
    h, w = img.shape[:2]
    x0, x1 = max(0, int(cx - r)), min(w, int(cx + r) + 2)
    y0, y1 = max(0, int(cy - r)), min(h, int(cy + r) + 2)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    img[y0:y1, x0:x1][inside] = color


def _line(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, color: np.ndarray) -> None:
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.clip(np.round(np.linspace(x0, x1, n)).astype(int), 0, img.shape[1] - 1)
    ys = np.clip(np.round(np.linspace(y0, y1, n)).astype(int), 0, img.shape[0] - 1)
    img[ys, xs] = color


def _bar(img: np.ndarray, cx: float, top: float, width: float, frac: float, color: np.ndarray) -> None:
    h, w = img.shape[:2]
    x0, x1 = int(cx - width / 2), int(cx + width / 2)
    y0, y1 = int(top), int(top) + 3
    x0c, x1c, y0c, y1c = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
    if x0c >= x1c or y0c >= y1c:
        return
    img[y0c:y1c, x0c:x1c] = 30
    xf = min(w, x0 + round(frac * (x1 - x0)))
    if xf > x0c:
        img[y0c:y1c, x0c:xf] = color


def render_battle(battle: Battle, b: int = 0, scale: int = 16) -> np.ndarray:
    """Draw battle ``b`` of ``battle`` as an ``(map_y * scale, map_x * scale, 3)`` uint8 image (y up)."""
    grid = battle.grid  # [x, y]
    _w, h = grid.shape
    img = np.where(grid.T[::-1, :, None], _WALK, _WALL).astype(np.uint8)
    img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    H = h * scale

    def to_px(x: float, y: float) -> tuple[float, float]:
        return x * scale, H - y * scale

    pos, alive = battle.pos[b], battle.alive[b]
    n_agents = battle.n_agents
    for u in range(battle.n_units):  # attacks and heals first, under the units
        if not alive[u]:
            continue
        t = int(battle.otarget[b, u])
        if t < 0 or not alive[t] or battle.order[b, u] not in (O_ATTACK, O_HEAL):
            continue
        d = float(np.hypot(*(pos[t] - pos[u])))
        if d <= battle.fst[u, F_RANGE] + battle.fst[u, F_RADIUS] + battle.fst[t, F_RADIUS]:
            color = _HEAL if battle.order[b, u] == O_HEAL else _LASER
            _line(img, *to_px(*pos[u]), *to_px(*pos[t]), color)
    for u in range(battle.n_units):
        cx, cy = to_px(*pos[u])
        r = battle.fst[u, F_RADIUS] * scale
        if not alive[u]:
            _disc(img, cx, cy, max(2.0, r * 0.4), _DEAD)
            continue
        _disc(img, cx, cy, r, _ALLY if u < n_agents else _ENEMY)
        width = max(10.0, 2 * r)
        _bar(img, cx, cy - r - 5, width, float(battle.hp[b, u] / battle.fst[u, F_HP]), _HP)
        if battle.fst[u, F_SH] > 0:
            _bar(img, cx, cy - r - 9, width, float(battle.shield[b, u] / battle.fst[u, F_SH]), _SH)
    return img
