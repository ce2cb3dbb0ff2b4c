"""Exact-theory figures (analysis.figures.theory): structure, files and the drawn values."""

from __future__ import annotations

import functools
import math

import mpmath as mp
import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from scipy.optimize import brentq

import _reference as reference
from analysis.figures import theory as tf
from theory import solve_eoc

EXPECTED_FILES = {
    "arxiv_fig1b_variance_maps.png",
    "arxiv_fig1c_eoc_sigma.png",
    "arxiv_fig2_vsecond_heatmaps.png",
    "arxiv_fig3_bound_vs_qstar.png",
    "arxiv_fig4_chi1_prime_heatmaps.png",
    "iclr_fig3_vprime_vsecond_vs_m.png",
    "iclr_fig4_multiple_fixed_points.png",
}


@pytest.fixture(scope="module")
def figures() -> dict[str, Figure]:
    return {name: make() for name, make in tf.FIGURES.items()}


def _panels(fig):
    """The subplot axes (neither colour bars nor insets)."""
    return [ax for ax in fig.axes if ax.get_subplotspec() is not None and not hasattr(ax, "_colorbar")]


def _labelled(ax, which):
    get = {"x": lambda a: a.get_xlabel(), "y": lambda a: a.get_ylabel()}[which]
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    return any(get(a).strip() for a in shared.get_siblings(ax))


def _highlights(fig):
    return [t for ax in fig.axes for t in ax.texts if t.get_gid() == "highlight"]


def test_all_functions_registered():
    assert set(f"{name}.png" for name in tf.FIGURES) == EXPECTED_FILES
    for fn in (
        tf.variance_maps_qstar,
        tf.eoc_sigma_curve,
        tf.vsecond_heatmaps,
        tf.bound_vs_qstar,
        tf.chi1_prime_heatmaps,
        tf.iclr_vprime_vsecond_vs_m,
        tf.iclr_multiple_fixed_points,
    ):
        assert fn in tf.FIGURES.values()


@pytest.mark.parametrize("name", sorted(tf.FIGURES))
def test_figure_titled_and_labelled(figures, name):
    fig = figures[name]
    assert isinstance(fig, Figure)
    assert fig.get_suptitle().strip()
    panels = _panels(fig)
    assert panels
    for ax in panels:
        assert _labelled(ax, "x"), f"{name}: x axis without a label"
        assert _labelled(ax, "y"), f"{name}: y axis without a label"
        assert "$" in ax.get_xlabel() + ax.get_ylabel() or not ax.get_xlabel() + ax.get_ylabel()
    for ax in fig.axes:
        if hasattr(ax, "_colorbar"):
            assert ax.get_ylabel().strip(), f"{name}: unlabelled colour bar"


@pytest.mark.parametrize("name", ["arxiv_fig2_vsecond_heatmaps", "arxiv_fig4_chi1_prime_heatmaps"])
def test_heatmaps_grid_and_colourbars(figures, name):
    fig = figures[name]
    panels = _panels(fig)
    assert len(panels) == 3
    for ax in panels:
        (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
        assert mesh.get_array().shape == (tf.HEATMAP_N, tf.HEATMAP_N) == (300, 300)
        assert mesh.colorbar is not None and mesh.colorbar.ax.get_ylabel()


def test_vsecond_norm_centred_at_zero(figures):
    for ax in _panels(figures["arxiv_fig2_vsecond_heatmaps"]):
        (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
        norm = mesh.norm
        assert norm.vmin < 0 < norm.vmax  # V'' changes sign at every sparsity in the m range
        assert float(norm(0.0)) == pytest.approx(0.5)
        assert float(norm(norm.vmin)) == pytest.approx(0.0)
        assert float(norm(norm.vmax)) == pytest.approx(1.0)
        assert mesh.get_cmap().name == "RdBu_r"


def test_centred_asinh_norm_roundtrip():
    norm = tf.CentredAsinhNorm(-0.4, 16.0, width=0.01)
    x = np.array([-0.4, -0.01, 0.0, 0.003, 1.0, 16.0])
    y = np.asarray(norm(x))
    assert np.all(np.diff(y) > 0)
    np.testing.assert_allclose(norm.inverse(y), x, rtol=1e-12, atol=1e-15)
    positive = tf.CentredAsinhNorm(0.0, 5.0, width=0.01)
    assert float(positive(0.0)) == 0.5 and float(positive(5.0)) == pytest.approx(1.0)


@functools.lru_cache(maxsize=None)
def _highlight_reference(q_star):
    """CReLU at s = 0.85, V'(q*) = 0.7 from ``tests/_reference.py`` (mpmath from the
    activation's definition, m by its own root finding; no code from ``theory``):
    ``(m, V''(q*), chi_1'(q*))``."""
    ref = reference.eoc("crelu", 0.85, q_star, vprime=0.7)
    return float(ref.m), float(ref.dV(q_star, 2)), float(ref.dchi1(q_star))


@pytest.mark.parametrize(
    "name, column, expected",
    [
        ("arxiv_fig2_vsecond_heatmaps", 1, (0.0229, 0.0115, 0.00764)),
        ("arxiv_fig4_chi1_prime_heatmaps", 2, (0.603, 0.302, 0.201)),
    ],
)
def test_highlighted_values_are_computed(figures, name, column, expected):
    """The three numbers drawn on the s = 0.85 panel are V''(q*) (chi_1'(q*)) at V' = 0.7,
    q* = 1, 2, 3: against the independent mpmath reference and the values arXiv prints."""
    texts = _highlights(figures[name])
    assert len(texts) == 3
    drawn = sorted((float(t.get_text()) for t in texts), reverse=True)
    exact = [_highlight_reference(q)[column] for q in (1.0, 2.0, 3.0)]
    assert [tf.format_value(v) for v in exact] == [t.get_text() for t in sorted(texts, key=lambda t: t.xy[0])]
    np.testing.assert_allclose(drawn, exact, rtol=5e-3)
    np.testing.assert_allclose(drawn, expected, rtol=1e-3)
    # they sit at (q*, m(q*)) of V'(q*) = 0.7 on the s = 0.85 panel
    for t in texts:
        q, m = t.xy
        assert m == pytest.approx(_highlight_reference(float(q))[0], rel=1e-9)
        assert t.axes.get_title() == "$s = 0.85$"


def test_vsecond_highlight_not_the_printed_caption(figures):
    """arXiv Fig. 2 prints 0.013 at q* = 2; the exact value is half the q* = 1 one."""
    by_q = {t.xy[0]: float(t.get_text()) for t in _highlights(figures["arxiv_fig2_vsecond_heatmaps"])}
    assert by_q[1.0] == pytest.approx(0.0229, abs=5e-5)
    assert by_q[2.0] == pytest.approx(0.0115, abs=5e-5)
    assert by_q[2.0] != pytest.approx(0.013, abs=5e-4)
    assert by_q[2.0] == pytest.approx(by_q[1.0] / 2, rel=5e-3)


@functools.lru_cache(maxsize=None)
def _independent_fixed_points(family, vprime, q_min=1e-4, q_max=7.0):
    """Every root of V(q) = q in (q_min, q_max] with its slope V'(q), for ``family`` at
    s = 0.85, q* = 1 and the given V'(q*): V from ``tests/_reference.py`` (mpmath, from the
    activation's definition, m by its own root finding; no code from ``theory``),
    sign changes of V(q) - q on a grid (steps of 4% in q) refined by brentq, V' by
    numerical differentiation."""
    ref = reference.eoc(family, 0.85, 1.0, vprime=vprime)

    def gap(q):
        return float(ref.V(q) - mp.mpf(q))

    grid = np.geomspace(q_min, q_max, 290)
    values = [gap(q) for q in grid]
    roots = [brentq(gap, a, b, xtol=1e-15, rtol=1e-14)
             for a, b, fa, fb in zip(grid[:-1], grid[1:], values[:-1], values[1:]) if fa * fb < 0]
    return [(q, float(ref.dV(q))) for q in roots]


def test_iclr_fixed_points_include_unstable(figures):
    fig = figures["iclr_fig4_multiple_fixed_points"]
    crelu_ax, cst_ax = _panels(fig)

    def markers(ax, kind):
        return [ln for ln in ax.lines if ln.get_gid() == f"fixed-point-{kind}"]

    unstable = markers(cst_ax, "unstable")
    assert unstable, "CST with V'(q*) = 0.9 has an unstable fixed point"
    expected = [(q, slope) for q, slope in _independent_fixed_points("cst", 0.9) if slope > 1]
    assert len(unstable) == len(expected) == 1
    (q_u,) = unstable[0].get_xdata()
    assert q_u == pytest.approx(expected[0][0], rel=1e-9)
    assert 1.1 < q_u < 1.5
    assert unstable[0].get_markerfacecolor() in ("white", "w", (1.0, 1.0, 1.0, 1.0))
    stable = markers(cst_ax, "stable")
    assert {round(float(ln.get_xdata()[0]), 6) for ln in stable} >= {1.0}
    assert any(float(ln.get_xdata()[0]) > 4 for ln in stable)  # the far stable point of V' = 0.9
    for ln in stable:
        assert ln.get_markerfacecolor() == ln.get_markeredgecolor()
    cst_stable = sorted({round(float(ln.get_xdata()[0]), 9) for ln in stable})  # V' = 0.8 and 0.9 share q* = 1
    assert cst_stable == pytest.approx(sorted({round(q, 9) for vp in (0.8, 0.9)
                                               for q, slope in _independent_fixed_points("cst", vp) if slope < 1}))
    assert not markers(crelu_ax, "unstable")
    assert [float(ln.get_xdata()[0]) for ln in markers(crelu_ax, "stable")] == pytest.approx([1.0])
    assert [q for q, _ in _independent_fixed_points("crelu", 0.9)] == pytest.approx([1.0])


def _log_bound_reference(sparsity, q_star, m):
    """ln of the Theorem 2.1 bound (arXiv eq. 14) for CReLU at the EoC with the given m,
    from ``tests/_reference.py``: mpmath at 80 digits from CReLU's definition, tau =
    sqrt(q*) Phi^-1(s), sigma_w^2 and sigma_b^2 by SPEC.md's recipe, V' and V'' by
    numerical differentiation of V (no code from ``theory``, no closed form of the paper).
    1 - V'(q*) keeps its digits where it is below 1e-40 (small q*, where double rounds
    V' to 1)."""
    return np.array([float(mp.log(reference.eoc("crelu", sparsity, q, m=m).bound())) for q in np.atleast_1d(q_star)])


def test_bound_matches_an_independent_log_space_evaluation():
    q = np.linspace(0.05, 3.0, 60)
    checked = slice(None, None, 5)  # the reference costs 0.07 s a point: every fifth, q = 0.05 included
    for s in (0.8, 0.85, 0.9):
        ours = np.log(solve_eoc("crelu", s, q, m=3.0).bound)
        assert np.all(np.isfinite(ours))  # also where 1 - V' rounds to 0
        np.testing.assert_allclose(ours[checked], _log_bound_reference(s, q[checked], 3.0), rtol=1e-9)
        assert np.all(np.diff(ours) < 0)  # the bound decreases with q* (arXiv Fig. 3)


def test_bound_figure_draws_the_exact_curve(figures):
    panels = _panels(figures["arxiv_fig3_bound_vs_qstar"])
    assert len(panels) == 3
    for ax, s in zip(panels, tf.ARXIV_SPARSITIES):
        line = ax.lines[0]
        x, y = line.get_xdata(), line.get_ydata()
        checked = np.unique(np.r_[np.linspace(0, len(x) - 1, 10).round().astype(int)])  # both ends included
        np.testing.assert_allclose(y[checked], _log_bound_reference(s, x[checked], 3.0), rtol=1e-9)


def test_write_theory_figures(tmp_path):
    paths = tf.write_theory_figures(tmp_path / "figs")
    assert {p.name for p in paths} == EXPECTED_FILES
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) > 10_000


def test_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tf, "FIGURES", {"arxiv_fig1b_variance_maps": tf.variance_maps_qstar})
    assert tf.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / "arxiv_fig1b_variance_maps.png")]
    assert (tmp_path / "arxiv_fig1b_variance_maps.png").stat().st_size > 0


def test_asinh_ticks():
    ticks = tf.asinh_ticks(-0.38, 16.1, 0.01)
    assert 0.0 in ticks and 1.0 in ticks and 10.0 in ticks and -0.1 in ticks
    assert ticks == sorted(ticks)
    assert all(-0.38 <= t <= 16.1 for t in ticks)
    assert not any(math.isclose(abs(t), 0.01) for t in ticks)
