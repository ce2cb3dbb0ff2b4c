"""Published GPU figures and the targets of the benchmark (arXiv 2602.05779, App. F, Table 3).

Table 3 reports, for a custom CUDA sparse GEMV against dense GEMV, the
speed-up and the energy fraction (sparse energy / dense energy) after 20
warm-up and 100 000 timed iterations.
"""
from itertools import product

RATIOS = (0.5, 1.0, 2.0)  # m / n
TABLE3_N = (100, 300, 3000)
TABLE3_S = (0.5, 0.8, 0.9)

#: (m/n, n, s) -> (speed-up, energy fraction), as published.
PUBLISHED = {
    (0.5, 100, 0.5): (1.250, 0.950), (0.5, 100, 0.8): (1.183, 0.844), (0.5, 100, 0.9): (1.216, 0.819),
    (0.5, 300, 0.5): (0.806, 1.211), (0.5, 300, 0.8): (2.097, 0.470), (0.5, 300, 0.9): (2.286, 0.431),
    (0.5, 3000, 0.5): (0.272, 2.134), (0.5, 3000, 0.8): (0.932, 0.578), (0.5, 3000, 0.9): (1.637, 0.327),
    (1.0, 100, 0.5): (1.015, 0.985), (1.0, 100, 0.8): (1.208, 0.820), (1.0, 100, 0.9): (1.218, 0.814),
    (1.0, 300, 0.5): (0.842, 1.136), (1.0, 300, 0.8): (1.782, 0.538), (1.0, 300, 0.9): (2.181, 0.439),
    (1.0, 3000, 0.5): (0.454, 1.352), (1.0, 3000, 0.8): (1.008, 0.585), (1.0, 3000, 0.9): (2.936, 0.188),
    (2.0, 100, 0.5): (1.620, 0.613), (2.0, 100, 0.8): (2.054, 0.485), (2.0, 100, 0.9): (2.164, 0.459),
    (2.0, 300, 0.5): (0.879, 1.044), (2.0, 300, 0.8): (1.689, 0.545), (2.0, 300, 0.9): (2.157, 0.424),
    (2.0, 3000, 0.5): (0.527, 1.205), (2.0, 3000, 0.8): (1.090, 0.556), (2.0, 3000, 0.9): (1.883, 0.301),
}

#: The memory-traffic target applies from this many inputs on.
LARGE_N = 4096
#: Fraction of the ideal memory-traffic speed-up 1 / (1 - s) required at n >= LARGE_N.
TRAFFIC_EFFICIENCY = 0.85
#: Relative timing noise tolerated before "never below 1.0" counts as broken.
DISPATCH_TOLERANCE = 0.03


def table3_cells():
    """The 27 (m, n, s) cells of Table 3, in table order."""
    return [(int(r * n), n, s) for r, n, s in product(RATIOS, TABLE3_N, TABLE3_S)]


def published(m: int, n: int, s: float):
    """Published (speed-up, energy fraction) of the cell, or None when the shape is not in Table 3."""
    return PUBLISHED.get((m / n, n, s))


def traffic_target(s: float) -> float:
    """Required speed-up at n >= LARGE_N: TRAFFIC_EFFICIENCY / (1 - s)."""
    return TRAFFIC_EFFICIENCY / (1.0 - s)
