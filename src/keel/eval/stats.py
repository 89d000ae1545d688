"""Confidence intervals: Wilson for proportions, Newcombe for a difference, bootstrap for the rest."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion; (0, 1) when n is 0."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    """95% interval of p2 - p1 (Newcombe's hybrid score method, from two Wilson intervals)."""
    if n1 == 0 or n2 == 0:
        return (-1.0, 1.0)
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson(s1, n1)
    l2, u2 = wilson(s2, n2)
    d = p2 - p1
    lower = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    upper = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return (max(-1.0, lower), min(1.0, upper))


def bootstrap(
    items: Sequence[object], stat: Callable[[Sequence[object]], float], rounds: int = 500, seed: int = 0
) -> tuple[float, float]:
    """95% percentile bootstrap interval of *stat* over resampled *items*."""
    if not items:
        return (0.0, 0.0)
    rng = random.Random(seed)
    values = sorted(stat([items[rng.randrange(len(items))] for _ in items]) for _ in range(rounds))
    return (values[int(0.025 * (rounds - 1))], values[int(0.975 * (rounds - 1))])
