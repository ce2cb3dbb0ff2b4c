"""Published theory columns beside their exact computation.

The tables are transcribed as printed into ``data/reference/*.csv`` (ICLR 2024 Table 2;
arXiv 2602.05779 Tables 1, 2, 4), theory and training columns alike (the training
columns are read by :mod:`train.published`). Each published number is compared with the EoC
solution at the row's ``(family, s, q*, V'(q*))``; it *disagrees* when it differs from
the computation by more than half a unit in its last printed digit (its rounding).
A disagreeing ``V''(q*)`` is also evaluated at the printed (rounded) ``m``: when that
agrees, the paper computed ``V''`` at its rounded ``m`` (marked ``~``); otherwise the
value is marked ``!``. Disagreements are reported, never corrected: several are typos.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from theory.activations import get_family
from theory.eoc import solve_eoc

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "data" / "reference"

TABLES = {
    "iclr2024_table2": "ICLR 2024 Table 2 (q* = 1)",
    "arxiv2026_table1": "arXiv 2602.05779 Table 1 (CReLU, DNN)",
    "arxiv2026_table2": "arXiv 2602.05779 Table 2 (CReLU, CNN)",
    "arxiv2026_table4": "arXiv 2602.05779 Table 4 (CST, DNN)",
}
COMPARED = ("tau", "m", "vprime", "vsecond")


@dataclass(frozen=True)
class Cell:
    """One published value, its computation, and whether they agree to the rounding."""

    column: str
    published: str
    computed: float
    at_printed_m: float | None = None

    @property
    def half_ulp(self) -> float:
        exponent = Decimal(self.published).as_tuple().exponent
        return 0.5 * 10.0**exponent

    @property
    def agrees(self) -> bool:
        return self._close(self.computed)

    @property
    def agrees_at_printed_m(self) -> bool:
        return self.at_printed_m is not None and self._close(self.at_printed_m)

    def _close(self, value: float) -> bool:
        return abs(value - float(self.published)) <= self.half_ulp * (1 + 1e-9)


@dataclass(frozen=True)
class Row:
    activation: str
    sparsity: float
    q_star: float
    vprime: float
    cells: tuple[Cell, ...]


def read_table(name: str) -> list[dict[str, str]]:
    """The rows of reference table ``name`` (a key of :data:`TABLES`)."""
    path = REFERENCE_DIR / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"reference table {path} is missing (it ships in the repository's data/reference)")
    with path.open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def compare_table(name: str) -> list[Row]:
    """Each row of table ``name`` with every published theory value beside the computation."""
    rows = []
    for rec in read_table(name):
        act = rec["activation"]
        s = float(rec["sparsity"])
        q_star = float(rec.get("q_star") or 1.0)
        clipped = get_family(act).clip_param is not None
        vprime = float(rec["vprime"]) if rec.get("vprime") else 1.0  # blank: an unclipped family, V' = 1
        sol = solve_eoc(act, s, q_star, vprime=vprime if clipped else None)
        computed = {"tau": sol.tau, "m": sol.m, "vprime": sol.vprime, "vsecond": sol.vsecond}
        at_printed_m = None
        if clipped and rec.get("m"):
            at_printed_m = float(solve_eoc(act, s, q_star, m=float(rec["m"])).vsecond)
        cells = tuple(
            Cell(col, rec[col], float(computed[col]), at_printed_m if col == "vsecond" else None)
            for col in COMPARED
            if rec.get(col) not in (None, "") and not (col == "vprime" and clipped)
        )
        rows.append(Row(act, s, q_star, vprime, cells))
    return rows


def format_table(name: str, rows: list[Row]) -> str:
    """Plain-text rendering; ``!`` marks a disagreement, ``~`` one explained by the rounded ``m``."""
    lines = [TABLES[name], f"{'family':<9}{'s':>6}{'q*':>5}{'V_target':>9}   published -> computed"]
    bad = rounded = 0
    for row in rows:
        parts = []
        for c in row.cells:
            mark = " " if c.agrees else ("~" if c.agrees_at_printed_m else "!")
            bad += not (c.agrees or c.agrees_at_printed_m)
            rounded += (not c.agrees) and c.agrees_at_printed_m
            parts.append(f"{c.column} {c.published:>6} -> {c.computed:8.4f}{mark}")
        lines.append(f"{row.activation:<9}{row.sparsity:>6.2f}{row.q_star:>5.0f}{row.vprime:>9.2f}   " + "  ".join(parts))
    total = sum(len(r.cells) for r in rows)
    lines.append(
        f"{bad} of {total} published values disagree with the computation beyond their rounding (marked !); "
        f"{rounded} more agree only when V'' is evaluated at the printed, rounded m (marked ~)"
    )
    return "\n".join(lines)
