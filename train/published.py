"""Published training results, transcribed as printed (typos included, and noted).

* ``table1``: arXiv 2602.05779 Table 1, DNN (100 x 300) on MNIST, CReLU, 5 seeds, mean.
* ``table2``: arXiv 2602.05779 Table 2, CNN (50 x 300) on CIFAR-10, CReLU, 4 seeds, median.
* ``table4``: arXiv 2602.05779 Table 4, DNN on MNIST, CST, 5 seeds (its header says "CNN on
  CIFAR10"; the caption and Appendix G.2 say DNN on MNIST).
* ``iclr``: ICLR 2024 (Price et al.) Table 2, DNN columns (MNIST, 5 runs, q* = 1, mean and
  standard deviation).

The numbers live in ``data/reference/*.csv`` (one transcription, shared with
``python -m theory table``). Each keeps its printed precision (:class:`Printed`), so a
report can tell a rounding (or truncation) difference from a disagreement: the printed ``tau``, ``m`` and
``V''(q*)`` are compared with :func:`theory.solve_eoc`, never trusted. Misprints evident
from the papers themselves are in :data:`NOTES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from theory.tables import read_table


class Printed(float):
    """A float that remembers how many decimals it was printed with."""

    decimals: int

    def __new__(cls, text: str):
        obj = super().__new__(cls, float(text))
        obj.decimals = len(text.split(".")[1]) if "." in text else 0
        return obj

    @property
    def unit(self) -> float:
        """One unit in the last printed place: the papers both round and truncate, so a
        value within one unit of the exact one agrees with it."""
        return 10.0 ** (-self.decimals)


@dataclass(frozen=True)
class Row:
    """One published cell: configuration and what was printed (``None`` where blank)."""

    table: str
    activation: str
    sparsity: float
    vprime: float | None
    q_star: float
    m: Printed | None
    vsecond: Printed | None
    accuracy: Printed
    sparsity_measured: Printed
    accuracy_std: Printed | None = None
    sparsity_std: Printed | None = None
    tau: Printed | None = None

    @property
    def key(self) -> tuple:
        return (self.activation, self.sparsity, self.vprime, self.q_star)


#: Misprints evident from the papers themselves, per table.
NOTES = {
    "table1": [
        "s = 0.9, V' = 0.5, q* = 1: V'' printed 0.90; Table 2 prints 0.00 for the same initialisation.",
        "s = 0.9, V' = 0.7 and 0.9: V'' printed half of Table 2's values (0.12/0.06/0.04 against 0.23/0.12/0.08).",
    ],
    "table2": [
        "s = 0.9, V' = 0.7, q* = 2: the m and V'' cells are swapped in print (0.12 1.50: m = 1.50, V'' = 0.12).",
        "s = 0.9, V' = 0.9, q* = 3: V'' 0.32 breaks the 1/q* scaling of V'' at fixed s and V' (0.69/3 = 0.23).",
    ],
    "table4": [
        "The header reads 'CNN on CIFAR10'; the caption and Appendix G.2 say DNN on MNIST.",
        "The q* = 1 V'' column holds m-like values (1.72 ... 2.46), and the q* = 2, 3 V'' do not scale as 1/q*.",
    ],
    "iclr": [],
}


#: the reference table (``data/reference/<name>.csv``, read by :mod:`theory.tables`) of each table
SOURCES = {
    "table1": "arxiv2026_table1",
    "table2": "arxiv2026_table2",
    "table4": "arxiv2026_table4",
    "iclr": "iclr2024_table2",
}


def _cell(text: str | None) -> Printed | None:
    return Printed(text) if text else None


def _rows(table: str) -> list[Row]:
    rows = []
    for rec in read_table(SOURCES[table]):
        clipped = bool(rec["m"])
        rows.append(
            Row(
                table,
                rec["activation"],
                float(rec["sparsity"]),
                float(rec["vprime"]) if clipped else None,
                float(rec.get("q_star") or 1.0),
                _cell(rec["m"]),
                _cell(rec["vsecond"]),
                Printed(rec["accuracy"]),
                Printed(rec["sparsity_measured"]),
                _cell(rec.get("accuracy_std")),
                _cell(rec.get("sparsity_std")),
                _cell(rec.get("tau")),
            )
        )
    return rows


TABLES = {name: _rows(name) for name in SOURCES}


def lookup(table: str, activation: str, sparsity: float, vprime: float | None, q_star: float) -> Row | None:
    """The published row of a configuration, or ``None`` when the paper has none."""
    for row in TABLES[table]:
        if row.key == (activation, sparsity, vprime, q_star):
            return row
    return None
