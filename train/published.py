"""Published training results, transcribed as printed (typos included, and noted).

* ``table1``: arXiv 2602.05779 Table 1, DNN (100 x 300) on MNIST, CReLU, 5 seeds, mean.
* ``table2``: arXiv 2602.05779 Table 2, CNN (50 x 300) on CIFAR-10, CReLU, 4 seeds, median.
* ``table4``: arXiv 2602.05779 Table 4, DNN on MNIST, CST, 5 seeds (its header says "CNN on
  CIFAR10"; the caption and Appendix G.2 say DNN on MNIST).
* ``iclr``: ICLR 2024 (Price et al.) Table 2, DNN columns (MNIST, 5 runs, q* = 1, mean and
  standard deviation).

Each number keeps its printed precision (:class:`Printed`), so a report can tell a
rounding (or truncation) difference from a disagreement: the printed ``tau``, ``m`` and
``V''(q*)`` are compared with :func:`theory.solve_eoc`, never trusted. Misprints evident
from the papers themselves are in :data:`NOTES`.
"""

from __future__ import annotations

from dataclasses import dataclass


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


# family, s, V'(q*), then (m, V''(q*), accuracy, sparsity) for q* = 1, 2, 3; "-" = blank
_ARXIV = {
    "table1": """
relu  0.5  -    -    -     0.94 0.50  -    -     0.94 0.50  -    -     0.94 0.50
crelu 0.8  0.5  0.89 -0.24 0.90 0.80  1.26 -0.12 0.91 0.80  1.54 -0.08 0.91 0.80
crelu 0.8  0.7  1.27 -0.12 0.91 0.80  1.79 -0.06 0.91 0.80  2.19 -0.04 0.90 0.80
crelu 0.8  0.9  1.85 0.21  0.91 0.80  2.62 0.11  0.91 0.80  3.21 0.07  0.91 0.80
crelu 0.85 0.5  0.81 -0.14 0.79 0.85  1.14 -0.07 0.86 0.85  1.40 -0.05 0.90 0.85
crelu 0.85 0.7  1.17 0.02  0.91 0.85  1.66 0.01  0.92 0.85  2.03 0.01  0.91 0.85
crelu 0.85 0.9  1.74 0.41  0.11 0.77  2.46 0.20  0.11 0.76  3.01 0.13  0.27 0.80
crelu 0.9  0.5  0.72 0.90  0.41 0.90  1.02 0.00  0.49 0.90  1.25 0.00  0.54 0.90
crelu 0.9  0.7  1.06 0.12  0.75 0.90  1.50 0.06  0.61 0.90  1.84 0.04  0.89 0.90
crelu 0.9  0.9  1.61 0.34  0.10 0.84  2.28 0.17  0.11 0.80  2.79 0.11  0.10 0.77
""",
    "table2": """
relu  0.5  -    -    -     0.71 0.50  -    -     0.75 0.50  -    -     0.71 0.50
crelu 0.8  0.5  0.89 -0.24 0.57 0.80  1.26 -0.12 0.58 0.80  1.54 -0.08 0.59 0.80
crelu 0.8  0.7  1.27 -0.12 0.58 0.80  1.79 -0.06 0.60 0.80  2.19 -0.04 0.59 0.80
crelu 0.8  0.9  1.85 0.21  0.54 0.80  2.62 0.11  0.16 0.81  3.21 0.07  0.28 0.81
crelu 0.85 0.5  0.81 -0.14 0.51 0.85  1.14 -0.07 0.52 0.85  1.40 -0.05 0.54 0.85
crelu 0.85 0.7  1.17 0.02  0.49 0.85  1.66 0.01  0.56 0.85  2.03 0.01  0.56 0.85
crelu 0.85 0.9  1.74 0.41  0.50 0.84  2.46 0.20  0.53 0.84  3.01 0.13  0.51 0.85
crelu 0.9  0.5  0.72 0.00  0.41 0.90  1.02 0.00  0.43 0.89  1.25 0.00  0.46 0.90
crelu 0.9  0.7  1.06 0.23  0.29 0.90  0.12 1.50  0.45 0.89  1.84 0.08  0.24 0.90
crelu 0.9  0.9  1.61 0.69  0.22 0.87  2.28 0.34  0.42 0.88  2.79 0.32  0.35 0.82
""",
    "table4": """
cst   0.6  0.5  0.89 1.72  0.88 0.60  1.26 -0.14 0.88 0.60  1.54 -0.05 0.88 0.60
cst   0.6  0.7  1.27 2.30  0.89 0.60  1.79 0.08  0.89 0.60  2.19 0.03  0.89 0.60
cst   0.6  0.9  1.85 3.18  0.89 0.60  2.62 0.40  0.90 0.57  3.21 0.13  0.74 0.53
cst   0.7  0.5  0.81 1.49  0.89 0.70  1.14 -0.05 0.87 0.70  1.40 -0.02 0.88 0.70
cst   0.7  0.7  1.17 2.05  0.88 0.70  1.66 0.21  0.88 0.70  2.03 0.07  0.88 0.70
cst   0.7  0.9  1.74 2.90  0.27 0.42  2.46 0.58  0.11 0.31  3.01 0.19  0.58 0.50
cst   0.8  0.5  0.72 1.26  0.77 0.80  1.02 0.11  0.85 0.80  1.25 0.04  0.91 0.80
cst   0.8  0.7  1.06 1.79  0.89 0.80  1.50 0.41  0.89 0.80  1.84 0.14  0.89 0.80
cst   0.8  0.9  1.61 2.62  0.10 0.32  2.28 0.84  0.11 0.28  2.79 0.28  0.10 0.26
cst   0.85 0.5  0.67 1.14  0.62 0.85  0.95 0.22  0.85 0.85  1.17 0.07  0.83 0.84
cst   0.85 0.7  1.00 1.66  0.87 0.85  1.42 0.56  0.82 0.84  1.73 0.19  0.90 0.85
cst   0.85 0.9  1.53 2.46  0.10 0.62  2.17 1.05  0.10 0.51  2.66 0.35  0.10 0.41
""",
}

# ICLR 2024 Table 2, DNN columns: family, s, tau, m, V'(q*), V''(q*), accuracy mean, std,
# sparsity mean, std ("relu 0.5" is the standard ReLU, the row "ReLU_tau, s = 0.5")
_ICLR = """
relu     0.50 0.00 -    1.0 0.0   0.94 0.002 0.50 0.001
relu_tau 0.60 0.25 -    1.0 0.12  0.76 0.37  0.49 0.27
relu_tau 0.70 0.52 -    1.0 0.3   0.10 0.00  0.00 0.00
st       0.5  0.67 -    1.0 0.43  0.10 0.00  0.00 0.00
st       0.6  0.84 -    1.0 0.59  0.10 0.00  0.00 0.00
st       0.7  1.04 -    1.0 0.81  0.10 0.00  0.00 0.00
crelu    0.60 0.25 1.22 0.5 -0.44 0.92 0.004 0.60 0.001
crelu    0.60 0.25 1.63 0.7 -0.42 0.92 0.003 0.60 0.004
crelu    0.60 0.25 2.25 0.9 -0.19 0.92 0.01  0.60 0.01
crelu    0.70 0.52 1.05 0.5 -0.37 0.93 0.01  0.70 0.002
crelu    0.70 0.52 1.45 0.7 -0.31 0.92 0.003 0.70 0.002
crelu    0.70 0.52 2.05 0.9 -0.04 0.92 0.01  0.70 0.01
crelu    0.80 0.84 0.89 0.5 -0.24 0.94 0.004 0.80 0.002
crelu    0.80 0.84 1.27 0.7 -0.12 0.93 0.01  0.80 0.01
crelu    0.80 0.84 1.85 0.9 0.21  0.94 0.01  0.79 0.02
crelu    0.85 1.04 0.81 0.5 -0.14 0.78 0.16  0.85 0.004
crelu    0.85 1.04 1.17 0.7 0.02  0.94 0.004 0.85 0.003
crelu    0.85 1.04 1.74 0.9 0.41  0.28 0.37  0.79 0.04
cst      0.50 0.67 0.97 0.5 -0.32 0.92 0.004 0.51 0.01
cst      0.50 0.67 1.36 0.7 -0.23 0.92 0.01  0.50 0.004
cst      0.50 0.67 1.96 0.9 0.08  0.92 0.004 0.49 0.01
cst      0.60 0.84 0.89 0.5 -0.24 0.93 0.01  0.60 0.003
cst      0.60 0.84 1.27 0.7 -0.12 0.92 0.004 0.60 0.003
cst      0.60 0.84 1.85 0.9 0.21  0.93 0.004 0.59 0.01
cst      0.70 1.04 0.81 0.5 -0.14 0.94 0.005 0.70 0.004
cst      0.70 1.04 1.17 0.7 0.02  0.93 0.005 0.71 0.01
cst      0.70 1.04 1.74 0.9 0.41  0.27 0.36  0.41 0.18
cst      0.80 1.28 0.72 0.5 0.00  0.92 0.04  0.80 0.001
cst      0.80 1.28 1.06 0.7 0.23  0.95 0.01  0.80 0.01
cst      0.80 1.28 1.61 0.9 0.69  0.11 0.01  0.15 0.01
cst      0.85 1.44 0.67 0.5 0.11  0.76 0.16  0.85 0.005
cst      0.85 1.44 1.00 0.7 0.39  0.93 0.01  0.85 0.01
cst      0.85 1.44 1.53 0.9 0.89  0.14 0.04  0.11 0.01
"""

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


def _cell(text: str) -> Printed | None:
    return None if text == "-" else Printed(text)


def _arxiv_rows(table: str) -> list[Row]:
    rows = []
    for line in _ARXIV[table].strip().splitlines():
        family, s, vp, *cells = line.split()
        for i, q in enumerate((1.0, 2.0, 3.0)):
            m, v2, acc, sp = (_cell(c) for c in cells[4 * i : 4 * i + 4])
            rows.append(Row(table, family, float(s), None if vp == "-" else float(vp), q, m, v2, acc, sp))
    return rows


def _iclr_rows() -> list[Row]:
    rows = []
    for line in _ICLR.strip().splitlines():
        family, s, tau, m, vp, v2, acc, acc_sd, sp, sp_sd = line.split()
        vprime = float(vp) if m != "-" else None
        rows.append(
            Row("iclr", family, float(s), vprime, 1.0, _cell(m), _cell(v2), Printed(acc), Printed(sp),
                Printed(acc_sd), Printed(sp_sd), Printed(tau))
        )
    return rows


TABLES = {name: _arxiv_rows(name) for name in _ARXIV} | {"iclr": _iclr_rows()}


def lookup(table: str, activation: str, sparsity: float, vprime: float | None, q_star: float) -> Row | None:
    """The published row of a configuration, or ``None`` when the paper has none."""
    for row in TABLES[table]:
        if row.key == (activation, sparsity, vprime, q_star):
            return row
    return None
