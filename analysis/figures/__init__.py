"""Figures, in two kinds that never mix.

* Theory figures, which need no simulation: :mod:`analysis.figures.theory` (the papers'
  exact-theory figures, arXiv Figs 1-4 and ICLR Figs 3-4) and
  :mod:`analysis.figures.products` (the distribution of ``prod chi1``: the stability
  diagram, which can overlay measured points it is given, and the variance shares).
* Validation figures, drawn from a depth-sweep store beside its theory:
  :mod:`analysis.figures.validation`.

One convention: every function builds a :class:`matplotlib.figure.Figure` with the
object API and returns it (no ``pyplot``, no backend switch, nothing global); the
caller saves it. ``python -m analysis.figures.theory --out DIR`` and
``python -m analysis.figures.products --out DIR`` write the theory figures.
"""
