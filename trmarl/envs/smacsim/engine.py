"""SMACSim's combat engine: arrays over ``(envs, units)``, so a batch of ``B`` battles steps in one call.

The engine knows nothing about SMAC's interface or PettingZoo; :mod:`trmarl.envs.smacsim.env` and
:mod:`trmarl.envs.smacsim.parallel` wrap it. One agent step runs ``step_mul`` game loops of ``1/22.4`` s. In every loop,
for every battle:

1. units act in a random order (drawn from the battle's own random stream): the enemy AI chooses an order for each
   enemy unit, then every unit executes its order (move, attack, heal, attack-move);
2. firing resets the weapon cooldown to ``cooldown * 22.4`` loops plus a jitter of -1..+2 loops; damage hits shields
   first (shield armour 0), then health minus armour; bonus damage depends on the target's attributes;
3. banelings explode on contact or death (splash to opposing ground units), colossi hit a 2.8 x 0.3 line;
4. overlapping ground units are pushed apart (a few symmetric passes), units never enter unpathable cells;
5. Protoss shields regenerate 2.8/s once 7.14 s have passed since the last damage, Zerg units regenerate 0.38 hp/s,
   medivacs regain energy.

Randomness: each battle has its own 64-bit SplitMix64 stream (``rng[b]``), advanced only by that battle. Stepping a battle
alone or inside a batch therefore gives identical results for the same seed.

The kernels are written as plain loops and compiled with numba (``cache=True``) where numba is importable; otherwise the
same functions run as ordinary Python (correct, but much slower). Set ``TRMARL_SMACSIM_NO_NUMBA=1`` to force that.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trmarl.envs.smacsim.maps import MAP_TYPES, MapSpec, spawn_layout, terrain_grid
from trmarl.envs.smacsim.units import UNIT_KINDS, UNIT_TYPES, UnitType

__all__ = ["HAVE_NUMBA", "LOOPS_PER_SECOND", "PARALLEL_MIN_ENVS", "Battle", "BattleOptions", "numba_threads"]

LOOPS_PER_SECOND = 22.4
_SHIELD_DELAY_S = 10.0 / 1.4  # 7.14 Faster seconds
_SHIELD_REGEN = 2.0 * 1.4  # 2.8 per Faster second

HAVE_NUMBA = False
_njit: Callable[..., Any]
if os.environ.get("TRMARL_SMACSIM_NO_NUMBA", "") not in ("1", "true", "True"):
    try:
        import numba

        HAVE_NUMBA = True
    except ImportError:  # pragma: no cover - numba is optional
        HAVE_NUMBA = False

if HAVE_NUMBA:

    def _njit(fn: Callable[..., Any]) -> Any:
        return numba.njit(cache=True, fastmath=False, nogil=True)(fn)

    def _njit_inline(fn: Callable[..., Any]) -> Any:
        # inlined into the callers at numba-IR level: these run per unit per game loop, and a call with ~20 array
        # arguments costs more than the work (measured: -25% kernel time on 3m, +10 s first compile)
        return numba.njit(cache=True, fastmath=False, nogil=True, inline="always")(fn)

    def _njit_par(fn: Callable[..., Any]) -> Any:
        return numba.njit(cache=True, fastmath=False, nogil=True, parallel=True)(fn)

    prange: Any = numba.prange

else:

    def _njit(fn: Callable[..., Any]) -> Any:
        return fn

    _njit_inline = _njit
    _njit_par = _njit
    prange = range


# static float stats per unit (columns of ``fst``)
F_HP, F_SH, F_ARMOR, F_DMG, F_NATT, F_BONUS, F_CD, F_RANGE, F_SPEED, F_RADIUS = range(10)
F_SIGHT, F_SCAN, F_EMAX, F_ESTART, F_EREGEN, F_HEAL, F_HEAL_EPH, F_HEAL_MIN = range(10, 18)
F_SPLASH_R, F_SPLASH_W, F_SPLASH_D, F_REGEN, F_MAXCD, F_SHOOT, F_OBS_SIGHT = range(18, 25)
N_F = 25
# static int stats per unit (columns of ``ist``)
I_TEAM, I_ATTR, I_BONUS_ATTR, I_KIND, I_AIR, I_HITS_GROUND, I_HITS_AIR, I_TYPE_ID, I_MEDIVAC, I_SHIELDED = range(10)
N_I = 10
KIND_WEAPON, KIND_HEALER, KIND_BANELING, KIND_COLOSSUS = range(4)
# orders
O_IDLE, O_MOVE, O_ATTACK, O_HEAL, O_AMOVE = range(5)
# game-end codes
CODE_NONE, CODE_WIN, CODE_LOSS, CODE_DRAW = 2, 1, -1, 0

_U64_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_U64_M1 = np.uint64(0xBF58476D1CE4E5B9)
_U64_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11, _S62 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11), np.uint64(62)


# --------------------------------------------------------------------------------------------------------------
# Random stream (SplitMix64, one state per battle)
# --------------------------------------------------------------------------------------------------------------


@_njit
def _next_u64(rng: np.ndarray, b: int) -> np.uint64:
    s = rng[b] + _U64_GOLDEN
    rng[b] = s
    z = (s ^ (s >> _S30)) * _U64_M1
    z = (z ^ (z >> _S27)) * _U64_M2
    return z ^ (z >> _S31)


@_njit
def _uniform(rng: np.ndarray, b: int) -> float:
    return float(_next_u64(rng, b) >> _S11) * (1.0 / 9007199254740992.0)


@_njit
def _jitter(rng: np.ndarray, b: int) -> int:
    return int(_next_u64(rng, b) >> _S62) - 1  # -1, 0, 1 or 2 loops


# --------------------------------------------------------------------------------------------------------------
# Terrain
# --------------------------------------------------------------------------------------------------------------


@_njit
def _walkable(grid: np.ndarray, x: float, y: float) -> bool:
    if x < 0.0 or y < 0.0:
        return False
    ix, iy = int(x), int(y)
    if ix >= grid.shape[0] or iy >= grid.shape[1]:
        return False
    return grid[ix, iy]


@_njit
def _flow_table(grid: np.ndarray) -> np.ndarray:
    """All-pairs grid distances (8-connected, Chebyshev steps, no corner cutting); -1 = unreachable."""
    w, h = grid.shape
    c = w * h
    table = np.full((c, c), -1, dtype=np.int16)
    queue = np.empty(c, dtype=np.int64)
    for goal in range(c):
        gx, gy = goal // h, goal % h
        if not grid[gx, gy]:
            continue
        table[goal, goal] = 0
        head, tail = 0, 0
        queue[tail] = goal
        tail += 1
        while head < tail:
            cur = queue[head]
            head += 1
            cx, cy = cur // h, cur % h
            dcur = table[cur, goal]
            for dx in range(-1, 2):
                for dy in range(-1, 2):
                    if dx == 0 and dy == 0:
                        continue
                    nx, ny = cx + dx, cy + dy
                    if nx < 0 or ny < 0 or nx >= w or ny >= h or not grid[nx, ny]:
                        continue
                    if dx != 0 and dy != 0 and (not grid[cx + dx, cy] or not grid[cx, cy + dy]):
                        continue
                    nxt = nx * h + ny
                    if table[nxt, goal] < 0:
                        table[nxt, goal] = dcur + 1
                        queue[tail] = nxt
                        tail += 1
    return table


@_njit
def _line_clear(grid: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
    dx, dy = x1 - x0, y1 - y0
    n = int(np.sqrt(dx * dx + dy * dy) / 0.25) + 1
    for k in range(1, n + 1):
        t = k / n
        if not _walkable(grid, x0 + t * dx, y0 + t * dy):
            return False
    return True


@_njit
def _waypoint(grid: np.ndarray, flow: np.ndarray, x: float, y: float, gx: float, gy: float) -> tuple[float, float]:
    """Where to head for to reach ``(gx, gy)``: the goal itself if the straight line is clear, else the next cell."""
    w, h = grid.shape
    ix, iy, jx, jy = int(x), int(y), int(gx), int(gy)
    if ix < 0 or iy < 0 or jx < 0 or jy < 0 or ix >= w or iy >= h or jx >= w or jy >= h:
        return gx, gy
    cur, goal = ix * h + iy, jx * h + jy
    if cur == goal or flow[cur, goal] <= 1 or _line_clear(grid, x, y, gx, gy):
        return gx, gy
    best_d, bx, by = 1 << 20, -1, -1
    best_e = 1e18
    for dx in range(-1, 2):
        for dy in range(-1, 2):
            if dx == 0 and dy == 0:
                continue
            nx, ny = ix + dx, iy + dy
            if nx < 0 or ny < 0 or nx >= w or ny >= h or not grid[nx, ny]:
                continue
            if dx != 0 and dy != 0 and (not grid[ix + dx, iy] or not grid[ix, iy + dy]):
                continue
            d = flow[nx * h + ny, goal]
            if d < 0:
                continue
            ex, ey = nx + 0.5 - gx, ny + 0.5 - gy
            e = ex * ex + ey * ey
            if d < best_d or (d == best_d and e < best_e):
                best_d, best_e, bx, by = d, e, nx, ny
    if bx < 0:
        return gx, gy
    return bx + 0.5, by + 0.5


@_njit_inline
def _move_toward(
    b: int, u: int, gx: float, gy: float, step: float, pos: np.ndarray, air: bool, grid: np.ndarray, flow: np.ndarray,
    use_flow: bool,
) -> bool:  # fmt: skip
    """Move unit ``u`` up to ``step`` toward ``(gx, gy)``; True when it got there."""
    x, y = pos[b, u, 0], pos[b, u, 1]
    wx, wy = gx, gy
    if use_flow and not air:
        wx, wy = _waypoint(grid, flow, x, y, gx, gy)
    dx, dy = wx - x, wy - y
    d = np.sqrt(dx * dx + dy * dy)
    if d <= step:
        nx, ny = wx, wy
    else:
        nx, ny = x + dx / d * step, y + dy / d * step
    if not air and not _walkable(grid, nx, ny):
        if _walkable(grid, nx, y):
            ny = y
        elif _walkable(grid, x, ny):
            nx = x
        else:
            return False
    if air:
        nx = min(max(nx, 0.0), grid.shape[0] - 1e-6)
        ny = min(max(ny, 0.0), grid.shape[1] - 1e-6)
    pos[b, u, 0], pos[b, u, 1] = nx, ny
    return wx == gx and wy == gy and d <= step


# --------------------------------------------------------------------------------------------------------------
# Combat
# --------------------------------------------------------------------------------------------------------------


@_njit_inline
def _dist(pos: np.ndarray, b: int, u: int, v: int) -> float:
    dx = pos[b, u, 0] - pos[b, v, 0]
    dy = pos[b, u, 1] - pos[b, v, 1]
    return np.sqrt(dx * dx + dy * dy)


@_njit
def _can_hit(ist: np.ndarray, u: int, v: int) -> bool:
    if ist[v, I_AIR]:
        return ist[u, I_HITS_AIR] != 0
    return ist[u, I_HITS_GROUND] != 0


@_njit_inline
def _deal(
    b: int, u: int, v: int, fst: np.ndarray, ist: np.ndarray, hp: np.ndarray, sh: np.ndarray, alive: np.ndarray,
    last_hit: np.ndarray, pending: np.ndarray, loop_t: int,
) -> None:  # fmt: skip
    """One attack of ``u`` (or its splash) on ``v``: bonus, shields first, then health minus armour."""
    if not alive[b, v]:
        return
    d = fst[u, F_DMG]
    if ist[v, I_ATTR] & ist[u, I_BONUS_ATTR]:
        d += fst[u, F_BONUS]
    if sh[b, v] > 0.0:
        absorbed = min(sh[b, v], d)
        sh[b, v] -= absorbed
        d -= absorbed
    if d > 0.0:
        hp[b, v] -= max(0.0, d - fst[v, F_ARMOR])
    last_hit[b, v] = loop_t
    if hp[b, v] <= 0.0:
        hp[b, v] = 0.0
        sh[b, v] = 0.0
        alive[b, v] = False
        if ist[v, I_KIND] == KIND_BANELING:
            pending[b, v] = True  # explodes on death


@_njit
def _explode(
    b: int, u: int, pos: np.ndarray, fst: np.ndarray, ist: np.ndarray, hp: np.ndarray, sh: np.ndarray, alive: np.ndarray,
    last_hit: np.ndarray, pending: np.ndarray, exploded: np.ndarray, loop_t: int,
) -> None:  # fmt: skip
    """Baneling ``u`` explodes (it dies); chained explosions are resolved until none is pending."""
    hp[b, u] = 0.0
    alive[b, u] = False
    pending[b, u] = True
    n = hp.shape[1]
    again = True
    while again:
        again = False
        for w in range(n):
            if not pending[b, w] or exploded[b, w]:
                continue
            pending[b, w] = False
            exploded[b, w] = True
            again = True
            for v in range(n):
                if v == w or not alive[b, v] or ist[v, I_TEAM] == ist[w, I_TEAM] or ist[v, I_AIR]:
                    continue
                if _dist(pos, b, w, v) <= fst[w, F_SPLASH_R] + fst[v, F_RADIUS]:
                    _deal(b, w, v, fst, ist, hp, sh, alive, last_hit, pending, loop_t)


@_njit
def _fire(
    b: int, u: int, t: int, pos: np.ndarray, fst: np.ndarray, ist: np.ndarray, hp: np.ndarray, sh: np.ndarray,
    alive: np.ndarray, last_hit: np.ndarray, pending: np.ndarray, exploded: np.ndarray, loop_t: int, hits: np.ndarray,
) -> None:  # fmt: skip
    n = hp.shape[1]
    n_att = int(fst[u, F_NATT])
    if ist[u, I_KIND] == KIND_COLOSSUS:
        # line splash: a (width x depth) rectangle centred on the target, in the shooter -> target frame
        dx, dy = pos[b, t, 0] - pos[b, u, 0], pos[b, t, 1] - pos[b, u, 1]
        d = np.sqrt(dx * dx + dy * dy)
        if d < 1e-9:
            ax, ay = 1.0, 0.0
        else:
            ax, ay = dx / d, dy / d
        half_w, half_d = fst[u, F_SPLASH_W] / 2.0, fst[u, F_SPLASH_D] / 2.0
        nh = 0
        for v in range(n):
            if not alive[b, v] or ist[v, I_TEAM] == ist[u, I_TEAM] or ist[v, I_AIR]:
                continue
            rx, ry = pos[b, v, 0] - pos[b, t, 0], pos[b, v, 1] - pos[b, t, 1]
            along = rx * ax + ry * ay
            perp = -rx * ay + ry * ax
            ca = min(max(along, -half_d), half_d)
            cp = min(max(perp, -half_w), half_w)
            r = fst[v, F_RADIUS]
            if v == t or (along - ca) ** 2 + (perp - cp) ** 2 <= r * r:
                hits[nh] = v
                nh += 1
        for _ in range(n_att):
            for k in range(nh):
                _deal(b, u, hits[k], fst, ist, hp, sh, alive, last_hit, pending, loop_t)
    else:
        for _ in range(n_att):
            _deal(b, u, t, fst, ist, hp, sh, alive, last_hit, pending, loop_t)
    for v in range(n):
        if pending[b, v] and not exploded[b, v]:
            _explode(b, v, pos, fst, ist, hp, sh, alive, last_hit, pending, exploded, loop_t)
            break


@_njit_inline
def _best_target(
    b: int, u: int, weapon_only: bool, pos: np.ndarray, fst: np.ndarray, ist: np.ndarray, alive: np.ndarray,
    order: np.ndarray, otarget: np.ndarray, healing: np.ndarray,
) -> int:  # fmt: skip
    """SC2-like acquisition: can-return-fire first, raised for units attacking a friend or healing, ties -> nearest."""
    n = alive.shape[1]
    best, best_p, best_d = -1, -1, 1e18
    lim0 = fst[u, F_RANGE] if weapon_only else max(fst[u, F_SCAN], fst[u, F_RANGE])
    for v in range(n):
        if not alive[b, v] or ist[v, I_TEAM] == ist[u, I_TEAM] or not _can_hit(ist, u, v):
            continue
        d = _dist(pos, b, u, v)
        if d > lim0 + fst[u, F_RADIUS] + fst[v, F_RADIUS]:
            continue
        p = 2 if _can_hit(ist, v, u) else 1
        if order[b, v] == O_ATTACK and otarget[b, v] >= 0 and ist[otarget[b, v], I_TEAM] == ist[u, I_TEAM]:
            p += 1
        if ist[v, I_KIND] == KIND_HEALER and healing[b, v]:
            p += 1
        if p > best_p or (p == best_p and d < best_d):
            best, best_p, best_d = v, p, d
    return best


@_njit_inline
def _enemy_ai(
    b: int, u: int, ai_mode: int, pos: np.ndarray, fst: np.ndarray, ist: np.ndarray, hp: np.ndarray, alive: np.ndarray,
    order: np.ndarray, otarget: np.ndarray, opt: np.ndarray, healing: np.ndarray, spawn: np.ndarray,
    attack_point: np.ndarray, map_w: float, map_h: float,
) -> None:  # fmt: skip
    n = alive.shape[1]
    team = ist[u, I_TEAM]
    if ist[u, I_KIND] == KIND_HEALER:
        t = otarget[b, u] if order[b, u] == O_HEAL else -1
        if t >= 0 and (not alive[b, t] or hp[b, t] >= fst[t, F_HP]):
            t = -1
        if t < 0:
            best_f = 1.0
            for v in range(n):
                if v == u or not alive[b, v] or ist[v, I_TEAM] != team or ist[v, I_AIR] or hp[b, v] >= fst[v, F_HP]:
                    continue
                if _dist(pos, b, u, v) > fst[u, F_SCAN] + fst[u, F_RADIUS] + fst[v, F_RADIUS]:
                    continue
                f = hp[b, v] / fst[v, F_HP]
                if f < best_f:
                    best_f, t = f, v
        if t >= 0:
            order[b, u], otarget[b, u] = O_HEAL, t
            return
        # follow the army: the centroid of the living friendly ground units
        cx, cy, k = 0.0, 0.0, 0
        for v in range(n):
            if alive[b, v] and ist[v, I_TEAM] == team and not ist[v, I_AIR]:
                cx += pos[b, v, 0]
                cy += pos[b, v, 1]
                k += 1
        healing[b, u] = False
        if k > 0:
            order[b, u], otarget[b, u] = O_MOVE, -1
            opt[b, u, 0], opt[b, u, 1] = cx / k, cy / k
        else:
            order[b, u], otarget[b, u] = O_AMOVE, -1
        return
    if ai_mode == 1:  # smax_heuristic
        t = otarget[b, u] if order[b, u] == O_ATTACK else -1
        if t >= 0 and (not alive[b, t] or _dist(pos, b, u, t) > fst[u, F_RANGE] + fst[u, F_RADIUS] + fst[t, F_RADIUS]):
            t = -1
        if t < 0:
            best_d = 1e18
            for v in range(n):
                if not alive[b, v] or ist[v, I_TEAM] == team or not _can_hit(ist, u, v):
                    continue
                d = _dist(pos, b, u, v)
                if d <= fst[u, F_RANGE] + fst[u, F_RADIUS] + fst[v, F_RADIUS] and d < best_d:
                    best_d, t = d, v
        if t >= 0:
            order[b, u], otarget[b, u] = O_ATTACK, t
            return
        best_d, c = 1e18, -1
        for v in range(n):
            if alive[b, v] and ist[v, I_TEAM] != team and _can_hit(ist, u, v):
                d = _dist(pos, b, u, v)
                if d <= fst[u, F_SIGHT] and d < best_d:
                    best_d, c = d, v
        order[b, u], otarget[b, u] = O_MOVE, -1
        if c >= 0:
            opt[b, u, 0], opt[b, u, 1] = pos[b, c, 0], pos[b, c, 1]
        else:
            opt[b, u, 0], opt[b, u, 1] = map_w - spawn[u, 0], map_h - spawn[u, 1]
        return
    # attack_move: keep the target while in range, retarget onto what is in range (attackers first), chase, resume
    t = otarget[b, u] if order[b, u] == O_ATTACK else -1
    if t >= 0 and not alive[b, t]:
        t = -1
    if t >= 0:
        d = _dist(pos, b, u, t)
        reach = fst[u, F_RADIUS] + fst[t, F_RADIUS]
        attacking_me = order[b, t] == O_ATTACK and otarget[b, t] == u
        if d > fst[u, F_RANGE] + reach and not attacking_me:  # a unit shooting at us is chased, however far
            c = _best_target(b, u, True, pos, fst, ist, alive, order, otarget, healing)
            if c >= 0:
                t = c
            elif d > max(fst[u, F_SIGHT], fst[u, F_SCAN]) + reach:
                t = -1
    if t < 0:
        t = _best_target(b, u, False, pos, fst, ist, alive, order, otarget, healing)
    if t >= 0:
        order[b, u], otarget[b, u] = O_ATTACK, t
    else:
        order[b, u], otarget[b, u] = O_AMOVE, -1


@_njit_inline
def _execute(
    b: int, u: int, pos: np.ndarray, fst: np.ndarray, ist: np.ndarray, hp: np.ndarray, sh: np.ndarray, en: np.ndarray,
    cd: np.ndarray, alive: np.ndarray, last_hit: np.ndarray, pending: np.ndarray, exploded: np.ndarray,
    order: np.ndarray, otarget: np.ndarray, opt: np.ndarray, healing: np.ndarray, rng: np.ndarray, grid: np.ndarray,
    flow: np.ndarray, use_flow: bool, attack_point: np.ndarray, loop_t: int, hits: np.ndarray,
) -> None:  # fmt: skip
    o = order[b, u]
    air = ist[u, I_AIR] != 0
    step = fst[u, F_SPEED]
    if o == O_MOVE:
        if step > 0.0 and _move_toward(b, u, opt[b, u, 0], opt[b, u, 1], step, pos, air, grid, flow, use_flow):
            order[b, u] = O_IDLE
    elif o == O_AMOVE:
        if step > 0.0:
            _move_toward(b, u, attack_point[0], attack_point[1], step, pos, air, grid, flow, use_flow)
    elif o == O_ATTACK:
        t = otarget[b, u]
        if t < 0 or not alive[b, t]:
            order[b, u] = O_IDLE
            return
        if not _can_hit(ist, u, t):
            return
        d = _dist(pos, b, u, t)
        if d <= fst[u, F_RANGE] + fst[u, F_RADIUS] + fst[t, F_RADIUS]:
            if ist[u, I_KIND] == KIND_BANELING:
                _explode(b, u, pos, fst, ist, hp, sh, alive, last_hit, pending, exploded, loop_t)
            elif cd[b, u] <= 0.0:
                _fire(b, u, t, pos, fst, ist, hp, sh, alive, last_hit, pending, exploded, loop_t, hits)
                cd[b, u] = fst[u, F_CD] + _jitter(rng, b)
        elif step > 0.0:
            _move_toward(b, u, pos[b, t, 0], pos[b, t, 1], step, pos, air, grid, flow, use_flow)
    elif o == O_HEAL:
        t = otarget[b, u]
        if t < 0 or not alive[b, t] or ist[t, I_AIR] or hp[b, t] >= fst[t, F_HP]:
            healing[b, u] = False
            return
        d = _dist(pos, b, u, t)
        if d > fst[u, F_RANGE] + fst[u, F_RADIUS] + fst[t, F_RADIUS]:
            healing[b, u] = False
            if step > 0.0:
                _move_toward(b, u, pos[b, t, 0], pos[b, t, 1], step, pos, air, grid, flow, use_flow)
            return
        if not healing[b, u]:
            if en[b, u] < fst[u, F_HEAL_MIN]:
                return
            healing[b, u] = True
        eph = fst[u, F_HEAL_EPH]
        amount = min(fst[t, F_HP] - hp[b, t], fst[u, F_HEAL])
        if eph > 0.0:
            amount = min(amount, en[b, u] / eph)
        hp[b, t] += amount
        en[b, u] -= amount * eph
        if en[b, u] <= 1e-9:
            en[b, u] = 0.0
            healing[b, u] = False


_PUSH_PASSES = 8  # at most this many symmetric passes per game loop
_PUSH_TOL = 1e-3  # overlaps below this are left alone


@_njit
def _push_apart(b: int, pos: np.ndarray, fst: np.ndarray, ist: np.ndarray, alive: np.ndarray, grid: np.ndarray) -> None:
    """Push overlapping ground units apart (symmetric; structures do not move), never into unpathable cells."""
    n = alive.shape[1]
    for _ in range(_PUSH_PASSES):
        moved = False
        for u in range(n):
            if not alive[b, u] or ist[u, I_AIR]:
                continue
            for v in range(u + 1, n):
                if not alive[b, v] or ist[v, I_AIR]:
                    continue
                dx = pos[b, v, 0] - pos[b, u, 0]
                dy = pos[b, v, 1] - pos[b, u, 1]
                d2 = dx * dx + dy * dy
                rr = fst[u, F_RADIUS] + fst[v, F_RADIUS]
                if d2 >= rr * rr:
                    continue
                d = np.sqrt(d2)
                if d < 1e-9:
                    ang = 2.399963229728653 * (u * 31 + v)  # deterministic direction for coincident units
                    dx, dy, d = np.cos(ang), np.sin(ang), 1.0
                    overlap = rr
                else:
                    overlap = rr - d
                if overlap < _PUSH_TOL:
                    continue
                ux, uy = dx / d, dy / d
                su = 0.0 if fst[u, F_SPEED] == 0.0 else 1.0
                sv = 0.0 if fst[v, F_SPEED] == 0.0 else 1.0
                if su + sv == 0.0:
                    continue
                share_u, share_v = overlap * su / (su + sv), overlap * sv / (su + sv)
                nux, nuy = pos[b, u, 0] - ux * share_u, pos[b, u, 1] - uy * share_u
                nvx, nvy = pos[b, v, 0] + ux * share_v, pos[b, v, 1] + uy * share_v
                if _walkable(grid, nux, nuy):
                    pos[b, u, 0], pos[b, u, 1] = nux, nuy
                elif _walkable(grid, nux, pos[b, u, 1]):
                    pos[b, u, 0] = nux
                elif _walkable(grid, pos[b, u, 0], nuy):
                    pos[b, u, 1] = nuy
                if _walkable(grid, nvx, nvy):
                    pos[b, v, 0], pos[b, v, 1] = nvx, nvy
                elif _walkable(grid, nvx, pos[b, v, 1]):
                    pos[b, v, 0] = nvx
                elif _walkable(grid, pos[b, v, 0], nvy):
                    pos[b, v, 1] = nvy
                moved = True
        if not moved:
            break


# --------------------------------------------------------------------------------------------------------------
# Kernels over the batch
# --------------------------------------------------------------------------------------------------------------


@_njit
def _reset_kernel(
    envs: np.ndarray, n_agents: int, ai_mode: int, spawn: np.ndarray, spawn_jitter: float, fst: np.ndarray,
    ist: np.ndarray, grid: np.ndarray, pos: np.ndarray, hp: np.ndarray, sh: np.ndarray, en: np.ndarray, cd: np.ndarray,
    alive: np.ndarray, last_hit: np.ndarray, pending: np.ndarray, exploded: np.ndarray, order: np.ndarray,
    otarget: np.ndarray, opt: np.ndarray, healing: np.ndarray, prev_hs: np.ndarray, dead_seen: np.ndarray,
    loop: np.ndarray, ep_steps: np.ndarray, rng: np.ndarray, last_action: np.ndarray,
) -> None:  # fmt: skip
    n = hp.shape[1]
    for b in range(envs.shape[0]):
        if not envs[b]:
            continue
        for u in range(n):
            x, y = spawn[u, 0], spawn[u, 1]
            if spawn_jitter > 0.0:
                jx = x + (2.0 * _uniform(rng, b) - 1.0) * spawn_jitter
                jy = y + (2.0 * _uniform(rng, b) - 1.0) * spawn_jitter
                if ist[u, I_AIR] or _walkable(grid, jx, jy):
                    x, y = jx, jy
            pos[b, u, 0], pos[b, u, 1] = x, y
            hp[b, u] = fst[u, F_HP]
            sh[b, u] = fst[u, F_SH]
            en[b, u] = fst[u, F_ESTART]
            cd[b, u] = 0.0
            alive[b, u] = True
            last_hit[b, u] = -1e9
            pending[b, u] = False
            exploded[b, u] = False
            order[b, u] = O_IDLE if (u < n_agents or ai_mode == 2) else O_AMOVE
            otarget[b, u] = -1
            opt[b, u, 0], opt[b, u, 1] = x, y
            healing[b, u] = False
            prev_hs[b, u] = hp[b, u] + sh[b, u]
            dead_seen[b, u] = False
        loop[b] = 0
        ep_steps[b] = 0
        for i in range(n_agents):
            last_action[b, i] = -1
        _push_apart(b, pos, fst, ist, alive, grid)


@_njit
def _step_kernel_env(
    b: int, actions: np.ndarray, n_loops: int, n_agents: int, move_amount: float, ai_mode: int, spawn: np.ndarray, fst:
    np.ndarray, ist: np.ndarray, grid: np.ndarray, flow: np.ndarray, use_flow: bool, attack_point: np.ndarray, pos:
    np.ndarray, hp: np.ndarray, sh: np.ndarray, en: np.ndarray, cd: np.ndarray, alive: np.ndarray, last_hit:
    np.ndarray, pending: np.ndarray, exploded: np.ndarray, order: np.ndarray, otarget: np.ndarray, opt: np.ndarray,
    healing: np.ndarray, prev_hs: np.ndarray, dead_seen: np.ndarray, loop: np.ndarray, ep_steps: np.ndarray, rng:
    np.ndarray, last_action: np.ndarray, is_mmm: bool, reward_only_positive: bool, reward_clip_negative: bool,
    death_value: float, neg_scale: float, out_reward: np.ndarray, out_code: np.ndarray, perm: np.ndarray, hits:
    np.ndarray,
) -> None:  # fmt: skip
    n = hp.shape[1]
    map_w, map_h = float(grid.shape[0]), float(grid.shape[1])
    shield_delay = _SHIELD_DELAY_S * LOOPS_PER_SECOND
    shield_rate = _SHIELD_REGEN / LOOPS_PER_SECOND
    # 1. the agents' orders (legality is checked by the caller)
    for i in range(n_agents):
        a = actions[b, i]
        last_action[b, i] = a
        if not alive[b, i] or a == 0:
            continue
        if a == 1:
            order[b, i], otarget[b, i] = O_IDLE, -1
            healing[b, i] = False
        elif a <= 5:
            ox, oy = pos[b, i, 0], pos[b, i, 1]
            if a == 2:
                oy += move_amount
            elif a == 3:
                oy -= move_amount
            elif a == 4:
                ox += move_amount
            else:
                ox -= move_amount
            order[b, i], otarget[b, i] = O_MOVE, -1
            opt[b, i, 0], opt[b, i, 1] = ox, oy
            healing[b, i] = False
        elif ist[i, I_KIND] == KIND_HEALER:
            if not (order[b, i] == O_HEAL and otarget[b, i] == a - 6):
                healing[b, i] = False
            order[b, i], otarget[b, i] = O_HEAL, a - 6
        else:
            order[b, i], otarget[b, i] = O_ATTACK, n_agents + a - 6
    # 2. game loops
    for _ in range(n_loops):
        t = loop[b]
        for k in range(n):
            perm[k] = k
        for k in range(n - 1, 0, -1):
            j = int(_uniform(rng, b) * (k + 1))
            perm[k], perm[j] = perm[j], perm[k]
        for k in range(n):
            u = perm[k]
            if not alive[b, u]:
                continue
            if u >= n_agents and ai_mode != 2:
                _enemy_ai(b, u, ai_mode, pos, fst, ist, hp, alive, order, otarget, opt, healing, spawn, attack_point,
                          map_w, map_h)  # fmt: skip
            _execute(b, u, pos, fst, ist, hp, sh, en, cd, alive, last_hit, pending, exploded, order, otarget, opt,
                     healing, rng, grid, flow, use_flow, attack_point, t, hits)  # fmt: skip
        _push_apart(b, pos, fst, ist, alive, grid)
        for u in range(n):
            if cd[b, u] > 0.0:
                cd[b, u] = max(0.0, cd[b, u] - 1.0)
            if not alive[b, u]:
                continue
            if fst[u, F_SH] > 0.0 and sh[b, u] < fst[u, F_SH] and t - last_hit[b, u] >= shield_delay:
                sh[b, u] = min(fst[u, F_SH], sh[b, u] + shield_rate)
            if fst[u, F_REGEN] > 0.0 and hp[b, u] < fst[u, F_HP]:
                hp[b, u] = min(fst[u, F_HP], hp[b, u] + fst[u, F_REGEN])
            if fst[u, F_EMAX] > 0.0 and en[b, u] < fst[u, F_EMAX]:
                en[b, u] = min(fst[u, F_EMAX], en[b, u] + fst[u, F_EREGEN])
        loop[b] = t + 1
    ep_steps[b] += 1
    # 3. reward (SMAC's reward_battle)
    delta_deaths, delta_ally, delta_enemy = 0.0, 0.0, 0.0
    for u in range(n):
        if dead_seen[b, u]:
            continue
        now = hp[b, u] + sh[b, u]
        if u < n_agents:
            if not alive[b, u]:
                dead_seen[b, u] = True
                if not reward_only_positive:
                    delta_deaths -= death_value * neg_scale
                delta_ally += prev_hs[b, u] * neg_scale
            else:
                delta_ally += neg_scale * (prev_hs[b, u] - now)
        else:
            if not alive[b, u]:
                dead_seen[b, u] = True
                delta_deaths += death_value
                delta_enemy += prev_hs[b, u]
            else:
                delta_enemy += prev_hs[b, u] - now
        prev_hs[b, u] = now
    if reward_only_positive:
        if reward_clip_negative:
            out_reward[b] = max(0.0, delta_enemy + delta_deaths)
        else:
            out_reward[b] = abs(delta_enemy + delta_deaths)
    else:
        out_reward[b] = delta_enemy + delta_deaths - delta_ally
    # 4. game end (SMAC's update_units)
    n_ally, n_enemy, ally_fighters, enemy_fighters = 0, 0, 0, 0
    for u in range(n):
        if alive[b, u]:
            if u < n_agents:
                n_ally += 1
                if not ist[u, I_MEDIVAC]:
                    ally_fighters += 1
            else:
                n_enemy += 1
                if not ist[u, I_MEDIVAC]:
                    enemy_fighters += 1
    if (n_ally == 0 and n_enemy > 0) or (is_mmm and ally_fighters == 0):
        out_code[b] = CODE_LOSS
    elif (n_ally > 0 and n_enemy == 0) or (is_mmm and n_enemy > 0 and enemy_fighters == 0):
        out_code[b] = CODE_WIN
    elif n_ally == 0 and n_enemy == 0:
        out_code[b] = CODE_DRAW
    else:
        out_code[b] = CODE_NONE


def _make_step_kernel(parallel: bool) -> Any:
    """The kernel stepping every battle ``b`` with ``envs[b]`` set by ``n_loops`` game loops (one thread, or all cores).

    One source for the serial kernel and the ``prange`` one: ``battles`` is a closure cell, so numba's cache keeps the
    two compilations apart.
    """
    battles = prange if parallel else range

    def kernel(
        actions: np.ndarray, envs: np.ndarray, n_loops: int, n_agents: int, move_amount: float, ai_mode: int,
        spawn: np.ndarray, fst: np.ndarray, ist: np.ndarray, grid: np.ndarray, flow: np.ndarray, use_flow: bool,
        attack_point: np.ndarray, pos: np.ndarray, hp: np.ndarray, sh: np.ndarray, en: np.ndarray, cd: np.ndarray,
        alive: np.ndarray, last_hit: np.ndarray, pending: np.ndarray, exploded: np.ndarray, order: np.ndarray,
        otarget: np.ndarray, opt: np.ndarray, healing: np.ndarray, prev_hs: np.ndarray, dead_seen: np.ndarray,
        loop: np.ndarray, ep_steps: np.ndarray, rng: np.ndarray, last_action: np.ndarray, is_mmm: bool,
        reward_only_positive: bool, reward_clip_negative: bool, death_value: float, neg_scale: float,
        out_reward: np.ndarray, out_code: np.ndarray,
    ) -> None:  # fmt: skip
        n = hp.shape[1]
        perm = np.empty((envs.shape[0], n), dtype=np.int64)
        hits = np.empty((envs.shape[0], n), dtype=np.int64)
        for b in battles(envs.shape[0]):
            if envs[b]:
                _step_kernel_env(
                    b,
                    actions,
                    n_loops,
                    n_agents,
                    move_amount,
                    ai_mode,
                    spawn,
                    fst,
                    ist,
                    grid,
                    flow,
                    use_flow,
                    attack_point,
                    pos,
                    hp,
                    sh,
                    en,
                    cd,
                    alive,
                    last_hit,
                    pending,
                    exploded,
                    order,
                    otarget,
                    opt,
                    healing,
                    prev_hs,
                    dead_seen,
                    loop,
                    ep_steps,
                    rng,
                    last_action,
                    is_mmm,
                    reward_only_positive,
                    reward_clip_negative,
                    death_value,
                    neg_scale,
                    out_reward,
                    out_code,
                    perm[b],
                    hits[b],
                )

    return (_njit_par if parallel else _njit)(kernel)


_step_kernel = _make_step_kernel(parallel=False)
_step_kernel_par = _make_step_kernel(parallel=True)


@_njit
def _observe_kernel_env(
    b: int, n_agents: int, n_actions: int, move_amount: float, pos: np.ndarray, hp: np.ndarray, sh: np.ndarray, en:
    np.ndarray, cd: np.ndarray, alive: np.ndarray, fst: np.ndarray, ist: np.ndarray, grid: np.ndarray, height:
    np.ndarray, last_action: np.ndarray, ep_steps: np.ndarray, episode_limit: int, utb: int, sh_al: int, sh_en: int,
    obs_all_health: bool, obs_own_health: bool, obs_last_action: bool, obs_pathing_grid: bool, obs_terrain_height:
    bool, obs_timestep_number: bool, state_last_action: bool, state_timestep_number: bool, center_x: float, center_y:
    float, max_dist_x: float, max_dist_y: float, out_avail: np.ndarray, out_obs: np.ndarray, out_state: np.ndarray,
    write_state: bool, sx: np.ndarray, sy: np.ndarray,
) -> None:  # fmt: skip
    n = hp.shape[1]
    n_enemies = n - n_agents
    w, h = grid.shape
    nf_en = 4 + utb + ((1 + sh_en) if obs_all_health else 0)
    nf_al = 4 + utb + ((1 + sh_al) if obs_all_health else 0) + (n_actions if obs_last_action else 0)
    n_move = 4 + (8 if obs_pathing_grid else 0) + (9 if obs_terrain_height else 0)
    off_en = n_move
    off_al = off_en + n_enemies * nf_en
    off_own = off_al + (n_agents - 1) * nf_al
    ma = int(move_amount)
    half = move_amount / 2.0
    # available actions
    for i in range(n_agents):
        av = out_avail[b, i]
        av[:] = 0
        if not alive[b, i]:
            av[0] = 1
            continue
        av[1] = 1
        x, y = pos[b, i, 0], pos[b, i, 1]
        for k in range(4):
            if k == 0:
                cx, cy = int(x), int(y + half)
            elif k == 1:
                cx, cy = int(x), int(y - half)
            elif k == 2:
                cx, cy = int(x + half), int(y)
            else:
                cx, cy = int(x - half), int(y)
            if 0 <= cx < w and 0 <= cy < h and grid[cx, cy]:
                av[2 + k] = 1
        shoot = fst[i, F_SHOOT]
        if ist[i, I_KIND] == KIND_HEALER:
            for j in range(n_agents):
                if j < n_actions - 6 and alive[b, j] and not ist[j, I_MEDIVAC] and _dist(pos, b, i, j) <= shoot:
                    av[6 + j] = 1
        else:
            for e in range(n_enemies):
                if alive[b, n_agents + e] and _dist(pos, b, i, n_agents + e) <= shoot:
                    av[6 + e] = 1
    # observations
    for i in range(n_agents):
        ob = out_obs[b, i]
        ob[:] = 0.0
        if not alive[b, i]:
            continue
        av = out_avail[b, i]
        x, y = pos[b, i, 0], pos[b, i, 1]
        sight = fst[i, F_OBS_SIGHT]
        for k in range(4):
            ob[k] = av[2 + k]
        ind = 4
        if obs_pathing_grid or obs_terrain_height:
            ix, iy = int(x), int(y)
            sx[0], sy[0] = ix, iy + 2 * ma
            sx[1], sy[1] = ix, iy - 2 * ma
            sx[2], sy[2] = ix + 2 * ma, iy
            sx[3], sy[3] = ix - 2 * ma, iy
            sx[4], sy[4] = ix + ma, iy + ma
            sx[5], sy[5] = ix - ma, iy - ma
            sx[6], sy[6] = ix + ma, iy - ma
            sx[7], sy[7] = ix - ma, iy + ma
            sx[8], sy[8] = ix, iy
            if obs_pathing_grid:
                for k in range(8):
                    inb = 0 <= sx[k] < w and 0 <= sy[k] < h
                    ob[ind + k] = (1.0 if grid[sx[k], sy[k]] else 0.0) if inb else 1.0
                ind += 8
            if obs_terrain_height:
                for k in range(9):
                    inb = 0 <= sx[k] < w and 0 <= sy[k] < h
                    ob[ind + k] = height[sx[k], sy[k]] if inb else 1.0
                ind += 9
        for e in range(n_enemies):
            v = n_agents + e
            d = _dist(pos, b, i, v)
            if d < sight and alive[b, v]:
                o = off_en + e * nf_en
                ob[o] = av[6 + e] if 6 + e < n_actions else 0
                ob[o + 1] = d / sight
                ob[o + 2] = (pos[b, v, 0] - x) / sight
                ob[o + 3] = (pos[b, v, 1] - y) / sight
                k = o + 4
                if obs_all_health:
                    ob[k] = hp[b, v] / fst[v, F_HP]
                    k += 1
                    if sh_en:
                        ob[k] = sh[b, v] / fst[v, F_SH] if fst[v, F_SH] > 0 else 0.0
                        k += 1
                if utb > 0:
                    ob[k + ist[v, I_TYPE_ID]] = 1.0
        slot = 0
        for j in range(n_agents):
            if j == i:
                continue
            d = _dist(pos, b, i, j)
            if d < sight and alive[b, j]:
                o = off_al + slot * nf_al
                ob[o] = 1.0
                ob[o + 1] = d / sight
                ob[o + 2] = (pos[b, j, 0] - x) / sight
                ob[o + 3] = (pos[b, j, 1] - y) / sight
                k = o + 4
                if obs_all_health:
                    ob[k] = hp[b, j] / fst[j, F_HP]
                    k += 1
                    if sh_al:
                        ob[k] = sh[b, j] / fst[j, F_SH] if fst[j, F_SH] > 0 else 0.0
                        k += 1
                if utb > 0:
                    ob[k + ist[j, I_TYPE_ID]] = 1.0
                    k += utb
                if obs_last_action and last_action[b, j] >= 0:
                    ob[k + last_action[b, j]] = 1.0
            slot += 1
        k = off_own
        if obs_own_health:
            ob[k] = hp[b, i] / fst[i, F_HP]
            k += 1
            if sh_al:
                ob[k] = sh[b, i] / fst[i, F_SH] if fst[i, F_SH] > 0 else 0.0
                k += 1
        if utb > 0:
            ob[k + ist[i, I_TYPE_ID]] = 1.0
            k += utb
        if obs_timestep_number:
            ob[k] = ep_steps[b] / episode_limit
    if not write_state:
        return
    st = out_state[b]
    st[:] = 0.0
    nfa = 4 + sh_al + utb
    nfe = 3 + sh_en + utb
    for i in range(n_agents):
        if not alive[b, i]:
            continue
        o = i * nfa
        st[o] = hp[b, i] / fst[i, F_HP]
        if ist[i, I_MEDIVAC]:
            st[o + 1] = en[b, i] / fst[i, F_MAXCD]
        else:
            st[o + 1] = cd[b, i] / fst[i, F_MAXCD]
        st[o + 2] = (pos[b, i, 0] - center_x) / max_dist_x
        st[o + 3] = (pos[b, i, 1] - center_y) / max_dist_y
        if sh_al:
            st[o + 4] = sh[b, i] / fst[i, F_SH] if fst[i, F_SH] > 0 else 0.0
        if utb > 0:
            st[o + nfa - utb + ist[i, I_TYPE_ID]] = 1.0
    base = n_agents * nfa
    for e in range(n_enemies):
        v = n_agents + e
        if not alive[b, v]:
            continue
        o = base + e * nfe
        st[o] = hp[b, v] / fst[v, F_HP]
        st[o + 1] = (pos[b, v, 0] - center_x) / max_dist_x
        st[o + 2] = (pos[b, v, 1] - center_y) / max_dist_y
        if sh_en:
            st[o + 3] = sh[b, v] / fst[v, F_SH] if fst[v, F_SH] > 0 else 0.0
        if utb > 0:
            st[o + nfe - utb + ist[v, I_TYPE_ID]] = 1.0
    o = base + n_enemies * nfe
    if state_last_action:
        for i in range(n_agents):
            if last_action[b, i] >= 0:
                st[o + i * n_actions + last_action[b, i]] = 1.0
        o += n_agents * n_actions
    if state_timestep_number:
        st[o] = ep_steps[b] / episode_limit


def _make_observe_kernel(parallel: bool) -> Any:
    """The kernel writing the observations, action masks and (``write_state``) states of the battles in ``envs``.

    One source for the serial kernel and the ``prange`` one: ``battles`` is a closure cell, so numba's cache keeps the
    two compilations apart.
    """
    battles = prange if parallel else range

    def kernel(
        envs: np.ndarray, n_agents: int, n_actions: int, move_amount: float, pos: np.ndarray, hp: np.ndarray,
        sh: np.ndarray, en: np.ndarray, cd: np.ndarray, alive: np.ndarray, fst: np.ndarray, ist: np.ndarray,
        grid: np.ndarray, height: np.ndarray, last_action: np.ndarray, ep_steps: np.ndarray, episode_limit: int,
        utb: int, sh_al: int, sh_en: int, obs_all_health: bool, obs_own_health: bool, obs_last_action: bool,
        obs_pathing_grid: bool, obs_terrain_height: bool, obs_timestep_number: bool, state_last_action: bool,
        state_timestep_number: bool, center_x: float, center_y: float, max_dist_x: float, max_dist_y: float,
        out_avail: np.ndarray, out_obs: np.ndarray, out_state: np.ndarray, write_state: bool,
    ) -> None:  # fmt: skip
        sx = np.empty((envs.shape[0], 9), dtype=np.int64)
        sy = np.empty((envs.shape[0], 9), dtype=np.int64)
        for b in battles(envs.shape[0]):
            if envs[b]:
                _observe_kernel_env(
                    b,
                    n_agents,
                    n_actions,
                    move_amount,
                    pos,
                    hp,
                    sh,
                    en,
                    cd,
                    alive,
                    fst,
                    ist,
                    grid,
                    height,
                    last_action,
                    ep_steps,
                    episode_limit,
                    utb,
                    sh_al,
                    sh_en,
                    obs_all_health,
                    obs_own_health,
                    obs_last_action,
                    obs_pathing_grid,
                    obs_terrain_height,
                    obs_timestep_number,
                    state_last_action,
                    state_timestep_number,
                    center_x,
                    center_y,
                    max_dist_x,
                    max_dist_y,
                    out_avail,
                    out_obs,
                    out_state,
                    write_state,
                    sx[b],
                    sy[b],
                )

    return (_njit_par if parallel else _njit)(kernel)


_observe_kernel = _make_observe_kernel(parallel=False)
_observe_kernel_par = _make_observe_kernel(parallel=True)


# --------------------------------------------------------------------------------------------------------------
# The Python face
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BattleOptions:
    """Engine options (the SMAC and SMACSim constructor arguments the engine needs).

    Attributes:
        step_mul: Game loops per agent step.
        move_amount: Distance of a move order.
        loops_per_second: Game loops per second (22.4 at "Faster").
        enemy_ai: ``"attack_move"``, ``"smax_heuristic"`` or ``"passive"`` (enemies never act on their own).
        spawn_jitter: Uniform spawn noise in ``[-spawn_jitter, spawn_jitter]`` per coordinate.
        unit_ranges: Per-unit shoot (floor 2) and sight ranges instead of SMAC's 6 and 9.
        smac_enemy_type_order: Reproduce SMAC's enemy one-hot order (swapped on stalkers_and_zealots maps).
        reward_only_positive / reward_clip_negative / reward_death_value / reward_negative_scale: Reward options.
    """

    step_mul: int = 8
    move_amount: float = 2.0
    loops_per_second: float = LOOPS_PER_SECOND
    enemy_ai: str = "attack_move"
    spawn_jitter: float = 0.0
    unit_ranges: bool = False
    smac_enemy_type_order: bool = True
    reward_only_positive: bool = True
    reward_clip_negative: bool = False
    reward_death_value: float = 10.0
    reward_negative_scale: float = 0.5


#: Batches of at least this many battles step on all cores (numba ``prange``; None: always one thread). Every battle
#: has its own random stream, so results do not depend on the number of threads.
PARALLEL_MIN_ENVS: int | None = None


def numba_threads() -> int:
    """Threads numba's parallel kernels would use (1 without numba)."""
    if not HAVE_NUMBA:
        return 1
    return int(numba.get_num_threads())


#: Enemy AI modes: SC2-like attack-move, SMAX's heuristic, or passive (enemies only act on orders set by hand; tests).
_AI_MODES = {"attack_move": 0, "smax_heuristic": 1, "passive": 2}

_FLOW_CACHE: dict[tuple[int, ...], np.ndarray] = {}


def _flow_for(grid: np.ndarray) -> np.ndarray:
    key = (*grid.shape, hash(grid.tobytes()))
    table = _FLOW_CACHE.get(key)
    if table is None:
        table = _flow_table(grid)
        _FLOW_CACHE[key] = table
    return table


#: Terrains with walls inside the playable area: units path around them on a grid flow field.
_FLOW_TERRAINS = ("RAVINE", "CORRIDOR")


class Battle:
    """``B`` battles of one map, stepped together.

    Args:
        map_spec: The map.
        n_envs: ``B``.
        options: Engine options.

    Attributes:
        pos, hp, shield, energy, cooldown, alive: ``(B, U, ...)`` unit arrays; units ``0..n_agents-1`` are the agents,
            then the enemies.
        episode_steps: ``(B,)`` agent steps since the last reset.
        avail, obs, state: Outputs of :meth:`observe`.
    """

    def __init__(self, map_spec: MapSpec, n_envs: int = 1, options: BattleOptions | None = None) -> None:
        self.map = map_spec
        self.options = opts = options or BattleOptions()
        if opts.enemy_ai not in _AI_MODES:
            raise ValueError(f"enemy_ai must be one of {tuple(_AI_MODES)}, got {opts.enemy_ai!r}")
        self.n_envs = B = int(n_envs)
        self.n_agents, self.n_enemies = map_spec.n_agents, map_spec.n_enemies
        self.n_units = U = self.n_agents + self.n_enemies
        self.n_actions = 6 + self.n_enemies
        self.is_mmm = map_spec.map_type == "MMM"
        ally_order, enemy_order = MAP_TYPES[map_spec.map_type]
        if not opts.smac_enemy_type_order:
            enemy_order = ally_order
        # units: allies sorted by (type order, x, y) = SMAC's RL-unit order; enemies grouped by type in spawn order
        allies = [p for g in map_spec.ally_groups for p in spawn_layout(g)]
        enemies = [p for g in map_spec.enemy_groups for p in spawn_layout(g, mirror=True)]
        rank = {name: k for k, name in enumerate(ally_order)}
        for name, _, _ in allies + enemies:  # types the map_type does not list: by first appearance
            rank.setdefault(name, len(rank))
        allies.sort(key=lambda p: (rank[p[0]], p[1], p[2]))
        enemies.sort(key=lambda p: rank[p[0]])  # stable: spawn order within a type
        self.unit_names: list[str] = [p[0] for p in allies + enemies]
        self.unit_types: list[UnitType] = [UNIT_TYPES[name] for name in self.unit_names]
        self.spawn = np.array([[p[1], p[2]] for p in allies + enemies], dtype=np.float64).reshape(U, 2)
        utb = map_spec.unit_type_bits
        lps, step_mul = float(opts.loops_per_second), int(opts.step_mul)
        self.loops_per_step = step_mul
        fst = np.zeros((U, N_F), dtype=np.float64)
        ist = np.zeros((U, N_I), dtype=np.int64)
        for u, ut in enumerate(self.unit_types):
            ally = u < self.n_agents
            fst[u, F_HP], fst[u, F_SH], fst[u, F_ARMOR] = ut.hp, ut.shield, ut.armor
            fst[u, F_DMG], fst[u, F_NATT], fst[u, F_BONUS] = ut.damage, ut.attacks, ut.bonus
            fst[u, F_CD], fst[u, F_RANGE], fst[u, F_SPEED] = ut.cooldown * lps, ut.range, ut.speed / lps
            fst[u, F_RADIUS], fst[u, F_SIGHT], fst[u, F_SCAN] = ut.radius, ut.sight, ut.scan_range
            fst[u, F_EMAX], fst[u, F_ESTART], fst[u, F_EREGEN] = ut.energy_max, ut.energy_start, ut.energy_regen / lps
            fst[u, F_HEAL], fst[u, F_HEAL_EPH], fst[u, F_HEAL_MIN] = (
                ut.heal_rate / lps,
                ut.heal_energy_per_hp,
                ut.heal_min_energy,
            )
            fst[u, F_SPLASH_R], fst[u, F_SPLASH_W], fst[u, F_SPLASH_D] = ut.splash_radius, ut.splash_width, ut.splash_depth
            fst[u, F_REGEN], fst[u, F_MAXCD] = ut.regen / lps, ut.max_cd
            fst[u, F_SHOOT] = max(ut.range, 2.0) if opts.unit_ranges else 6.0
            fst[u, F_OBS_SIGHT] = ut.sight if opts.unit_ranges else 9.0
            ist[u, I_TEAM] = 0 if ally else 1
            ist[u, I_ATTR], ist[u, I_BONUS_ATTR] = ut.attribute_bits, ut.bonus_bits
            ist[u, I_KIND] = UNIT_KINDS.index(ut.kind)
            ist[u, I_AIR], ist[u, I_HITS_GROUND], ist[u, I_HITS_AIR] = ut.air, ut.hits_ground, ut.hits_air
            ist[u, I_MEDIVAC] = ut.name == "medivac"
            ist[u, I_SHIELDED] = ut.shield > 0
            order = ally_order if ally else enemy_order
            if utb > 0:
                if ut.name not in order:
                    raise ValueError(
                        f"map {map_spec.name!r}: unit {ut.name!r} has no type id in map_type {map_spec.map_type!r}"
                    )
                ist[u, I_TYPE_ID] = order.index(ut.name)
        if self.is_mmm:
            healer_allies = [u for u in range(self.n_agents) if ist[u, I_KIND] == KIND_HEALER]
            if healer_allies and self.n_agents > self.n_actions - 6:
                raise ValueError(f"map {map_spec.name!r}: heal targets need n_agents <= n_enemies")
        self.fst, self.ist = fst, ist
        self.grid = terrain_grid(map_spec.terrain, map_spec.size)
        self.height = np.where(self.grid, 0.5, 0.0).astype(np.float64)
        self.use_flow = map_spec.terrain in _FLOW_TERRAINS
        self.flow = _flow_for(self.grid) if self.use_flow else np.zeros((1, 1), dtype=np.int16)
        self.attack_point = np.array(map_spec.target_point, dtype=np.float64)
        self.map_x, self.map_y = float(map_spec.size[0]), float(map_spec.size[1])
        self.ai_mode = _AI_MODES[opts.enemy_ai]
        # dynamic state
        self.pos = np.zeros((B, U, 2), dtype=np.float64)
        self.hp = np.zeros((B, U), dtype=np.float64)
        self.shield = np.zeros((B, U), dtype=np.float64)
        self.energy = np.zeros((B, U), dtype=np.float64)
        self.cooldown = np.zeros((B, U), dtype=np.float64)
        self.alive = np.zeros((B, U), dtype=np.bool_)
        self.last_hit = np.zeros((B, U), dtype=np.float64)
        self.pending = np.zeros((B, U), dtype=np.bool_)
        self.exploded = np.zeros((B, U), dtype=np.bool_)
        self.order = np.zeros((B, U), dtype=np.int64)
        self.otarget = np.full((B, U), -1, dtype=np.int64)
        self.opt = np.zeros((B, U, 2), dtype=np.float64)
        self.healing = np.zeros((B, U), dtype=np.bool_)
        self.prev_hs = np.zeros((B, U), dtype=np.float64)
        self.dead_seen = np.zeros((B, U), dtype=np.bool_)
        self.loop = np.zeros(B, dtype=np.int64)
        self.episode_steps = np.zeros(B, dtype=np.int64)
        self.rng = np.zeros(B, dtype=np.uint64)
        self.last_action = np.full((B, self.n_agents), -1, dtype=np.int64)
        self.reward = np.zeros(B, dtype=np.float64)
        self.code = np.full(B, CODE_NONE, dtype=np.int64)
        self.avail = np.zeros((B, self.n_agents, self.n_actions), dtype=np.int8)
        self.all_envs = np.ones(B, dtype=np.bool_)
        for b in range(B):
            self.seed_env(b, None)

    def _parallel(self, mask: np.ndarray) -> bool:
        """Use the multi-threaded kernels (numba ``prange`` over battles) for large batches."""
        return HAVE_NUMBA and PARALLEL_MIN_ENVS is not None and self.n_envs >= PARALLEL_MIN_ENVS and (numba_threads() > 1)

    # -- seeding and reset --------------------------------------------------------------------------------------
    def seed_env(self, b: int, seed: int | None) -> None:
        """Restart battle ``b``'s random stream from ``seed`` (fresh OS entropy when None)."""
        state = np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)[0]
        self.rng[b] = state

    def reset(self, envs: np.ndarray | None = None) -> None:
        """Respawn the battles where ``envs`` (bool ``(B,)``) is True (all when None)."""
        mask = self.all_envs if envs is None else np.asarray(envs, dtype=np.bool_)
        with np.errstate(over="ignore"):
            _reset_kernel(
                mask, self.n_agents, self.ai_mode, self.spawn, float(self.options.spawn_jitter), self.fst, self.ist, self.grid,
                self.pos, self.hp, self.shield, self.energy, self.cooldown, self.alive, self.last_hit, self.pending,
                self.exploded, self.order, self.otarget, self.opt, self.healing, self.prev_hs, self.dead_seen, self.loop,
                self.episode_steps, self.rng, self.last_action,
            )  # fmt: skip

    def step(self, actions: np.ndarray, envs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Apply ``actions`` (int ``(B, n_agents)``, assumed legal) and run ``step_mul`` game loops.

        Returns:
            ``(reward, code)``: SMAC's ``reward_battle`` (before terminal bonus and scaling) and the game-end code
            (1 won, -1 lost, 0 draw, 2 still running), each ``(B,)``. Battles outside ``envs`` keep old values.
        """
        mask = self.all_envs if envs is None else np.asarray(envs, dtype=np.bool_)
        o = self.options
        kernel = _step_kernel_par if self._parallel(mask) else _step_kernel
        with np.errstate(over="ignore"):
            kernel(
                np.ascontiguousarray(actions, dtype=np.int64), mask, self.loops_per_step, self.n_agents,
                float(o.move_amount), self.ai_mode, self.spawn, self.fst, self.ist, self.grid, self.flow, self.use_flow,
                self.attack_point, self.pos, self.hp, self.shield, self.energy, self.cooldown, self.alive, self.last_hit,
                self.pending, self.exploded, self.order, self.otarget, self.opt, self.healing, self.prev_hs,
                self.dead_seen, self.loop, self.episode_steps, self.rng, self.last_action, self.is_mmm,
                bool(o.reward_only_positive), bool(o.reward_clip_negative), float(o.reward_death_value),
                float(o.reward_negative_scale), self.reward, self.code,
            )  # fmt: skip
        return self.reward, self.code

    def observe(
        self,
        obs: np.ndarray,
        state: np.ndarray | None,
        flags: dict[str, bool],
        episode_limit: int,
        envs: np.ndarray | None = None,
    ) -> None:
        """Fill ``self.avail``, ``obs`` ``(B, n_agents, obs_size)`` and ``state`` ``(B, state_size)`` (SMAC features).

        Args:
            obs: Output array.
            state: Output array, or None to skip the state.
            flags: ``obs_all_health``, ``obs_own_health``, ``obs_last_action``, ``obs_pathing_grid``,
                ``obs_terrain_height``, ``obs_timestep_number``, ``state_last_action``, ``state_timestep_number``.
            episode_limit: For the timestep features.
            envs: Battles to observe (bool ``(B,)``; all when None).
        """
        mask = self.all_envs if envs is None else np.asarray(envs, dtype=np.bool_)
        m = self.map
        sh_al = int(m.ally_race == "P")
        sh_en = int(m.enemy_race == "P")
        dummy = np.zeros((self.n_envs, 1), dtype=np.float32)
        kernel = _observe_kernel_par if self._parallel(mask) else _observe_kernel
        kernel(
            mask, self.n_agents, self.n_actions, float(self.options.move_amount), self.pos, self.hp, self.shield,
            self.energy, self.cooldown, self.alive, self.fst, self.ist, self.grid, self.height, self.last_action,
            self.episode_steps, int(episode_limit), int(m.unit_type_bits), sh_al, sh_en, flags["obs_all_health"],
            flags["obs_own_health"], flags["obs_last_action"], flags["obs_pathing_grid"], flags["obs_terrain_height"],
            flags["obs_timestep_number"], flags["state_last_action"], flags["state_timestep_number"], self.map_x / 2.0,
            self.map_y / 2.0, self.map_x, self.map_y, self.avail, obs, dummy if state is None else state,
            state is not None,
        )  # fmt: skip

    def copy_env(self, src: int, dst: int) -> None:
        """Copy battle ``src``'s full state into battle ``dst`` (used by tests)."""
        for name in (
            "pos", "hp", "shield", "energy", "cooldown", "alive", "last_hit", "pending", "exploded", "order", "otarget",
            "opt", "healing", "prev_hs", "dead_seen", "loop", "episode_steps", "rng", "last_action",
        ):  # fmt: skip
            arr = getattr(self, name)
            arr[dst] = arr[src]
