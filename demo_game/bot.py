"""A scripted player for the headless showcase and the tests.

The bot heads for the nearest pickup, sidesteps enemies that get too close,
dashes through a crawler that corners it and gives the boss a wide berth unless
it is invulnerable. That is greedy enough to get chased (combat) and to meet
the boss within ~30 s, and cautious enough to survive most of a game. Given the same seed and the same world it always
makes the same moves.
"""

from __future__ import annotations

import math
import random

from .world import World

__all__ = ["Bot"]


class Bot:
    def __init__(self, seed: int = 0) -> None:
        # Separate stream from the world's RNG so the bot never perturbs the world.
        self.rng = random.Random(seed * 7919 + 17)
        self._wobble = 0.0

    def act(self, world: World, dt: float) -> tuple[float, float]:
        """The direction to move this step, length <= 1."""
        return self.decide(world, dt)[0]

    def decide(self, world: World, dt: float) -> tuple[tuple[float, float], bool]:
        """The direction to move this step (length <= 1) and whether to dash."""
        p, c = world.player, world.config
        if p.dash_cooldown <= 0.0 and p.dash_s <= 0.0:
            near = [e for e in world.enemies if math.hypot(e.x - p.x, e.y - p.y) < 70.0]
            if near:  # smash through the closest one
                e = min(near, key=lambda q: math.hypot(q.x - p.x, q.y - p.y))
                d = max(1e-6, math.hypot(e.x - p.x, e.y - p.y))
                return ((e.x - p.x) / d, (e.y - p.y) / d), True
        dx = dy = 0.0
        if world.pickups:
            target = min(world.pickups, key=lambda pk: math.hypot(pk.x - p.x, pk.y - p.y))
            d = math.hypot(target.x - p.x, target.y - p.y)
            if d > 1e-6:
                dx, dy = (target.x - p.x) / d, (target.y - p.y) / d

        # Sidestep threats; less so while invulnerable (it is a showcase, be bold).
        caution = 0.35 if p.invulnerable > 0 else 1.0
        for e in world.enemies:
            d = math.hypot(p.x - e.x, p.y - e.y)
            if 1e-6 < d < 90.0:
                push = caution * (90.0 - d) / 90.0 * 2.2
                dx += (p.x - e.x) / d * push
                dy += (p.y - e.y) / d * push
        if world.boss is not None:
            b = world.boss
            d = math.hypot(p.x - b.x, p.y - b.y)
            if 1e-6 < d < 150.0:
                push = caution * (150.0 - d) / 150.0 * 2.5
                dx += (p.x - b.x) / d * push
                dy += (p.y - b.y) / d * push

        # Walls: being cornered is how bots die.
        margin = 50.0
        if p.x < margin:
            dx += (margin - p.x) / margin
        if p.x > c.width - margin:
            dx -= (p.x - (c.width - margin)) / margin
        if p.y < margin:
            dy += (margin - p.y) / margin
        if p.y > c.height - margin:
            dy -= (p.y - (c.height - margin)) / margin

        # A slow seeded wobble so different seeds play differently.
        self._wobble += self.rng.uniform(-3.0, 3.0) * dt
        self._wobble = max(-0.6, min(0.6, self._wobble))
        cos_w, sin_w = math.cos(self._wobble), math.sin(self._wobble)
        dx, dy = dx * cos_w - dy * sin_w, dx * sin_w + dy * cos_w

        n = math.hypot(dx, dy)
        return ((dx / n, dy / n) if n > 1e-6 else (0.0, 0.0)), False
