"""Command line of the theory package.

Every subcommand takes the configurations as every command of the suite does
(:class:`theory.grid.Grid`: ``--activation``, ``--sparsity``, ``--qstar``, ``--vprime`` or
``--m``, several values each) and prints one block, or with ``--json`` one JSON object
per line, per configuration::

    python -m theory eoc --activation crelu --sparsity 0.85 --qstar 1 --vprime 0.7 [--json]
    python -m theory products --activation crelu --sparsity 0.85 --qstar 1 --vprime 0.7 --width 300 --depth 100 [--json]
    python -m theory correlation --activation crelu --sparsity 0.85 --qstar 1 --vprime 0.7 --rho0 0.5 --width 1000 --depth 50 [--json]
    python -m theory table
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Annotated, Union

import tyro

from theory.cli import UsageError, fail, parse
from theory.correlation import ZETA_MAX, correlation_record
from theory.grid import Grid, GridError, require_shape
from theory.products import SOURCES, products_record
from theory.tables import TABLES, compare_table, format_table

_LABELS = {
    "tau": "tau (threshold)",
    "m": "m (clipping)",
    "sigma_w2": "sigma_w^2",
    "sigma_b2": "sigma_b^2",
    "vprime": "V'(q*)",
    "vsecond": "V''(q*)",
    "chi1": "chi_1(q*)",
    "chi1_prime": "chi_1'(q*)",
    "phi2": "<phi^2>_q*",
    "phi4": "<phi^4>_q*",
    "mu1": "mu_1 = <phi'^2>_q*",
    "mu2": "mu_2 = <phi'^4>_q*",
    "bound": "Thm 2.1 bound on |q~{1}|",
}


@dataclass(frozen=True, kw_only=True)
class Eoc(Grid):
    """Solve the Edge-of-Chaos initialisation of every configuration.

    Parameters
    ----------
    json : bool
        Print one JSON object per configuration (one per line).
    """

    json: bool = False


@dataclass(frozen=True, kw_only=True)
class Products(Grid):
    """Distribution of log prod chi1 and of the back-propagated norm at width N.

    Parameters
    ----------
    width : int
        Width N of every layer (>= 2).
    depth : int
        Depth L (>= 2).
    k : float
        Definition 2.1 band: prod chi1 in [1/K, K].
    json : bool
        Print one JSON object per configuration (one per line).
    """

    width: int
    depth: int
    k: float = 10.0
    json: bool = False

    def __post_init__(self):
        super().__post_init__()
        require_shape(width=self.width, depth=self.depth)
        if not self.k > 1.0:
            raise GridError(f"--k must be > 1, got {self.k:g}")


@dataclass(frozen=True, kw_only=True)
class Correlation(Grid):
    """O(1/N) mean and spread of the correlation of two inputs, per layer.

    Parameters
    ----------
    rho0 : float
        Layer-1 correlation of the two inputs, in (-1, 1).
    width : int
        Width N of every layer (>= 2).
    depth : int
        Depth L (>= 2).
    json : bool
        Print one JSON object per configuration (one per line).
    """

    rho0: float = 0.5
    width: int
    depth: int
    json: bool = False

    def __post_init__(self):
        super().__post_init__()
        if not -1.0 < self.rho0 < 1.0:
            raise GridError(f"--rho0 must lie in (-1, 1), got {self.rho0:g}")
        require_shape(width=self.width, depth=self.depth)


@dataclass(frozen=True)
class Table:
    """Published theory columns beside their computation."""


Command = Union[
    Annotated[Eoc, tyro.conf.subcommand("eoc")],
    Annotated[Products, tyro.conf.subcommand("products")],
    Annotated[Correlation, tyro.conf.subcommand("correlation")],
    Annotated[Table, tyro.conf.subcommand("table")],
]


def main(argv: list[str] | None = None) -> int:
    try:
        cmd = parse(Command, argv, prog="python -m theory", description=__doc__.splitlines()[0])
        if isinstance(cmd, Table):
            print("\n\n".join(format_table(name, compare_table(name)) for name in TABLES))
            return 0
        configs = cmd.configs()
    except UsageError as err:
        return fail(err)
    show = {Eoc: _print_eoc, Products: _print_products, Correlation: _print_correlation}[type(cmd)]
    for config in configs:
        show(config.solution, cmd)
    return 0


def _print_eoc(sol, args) -> None:
    record = sol.as_dict()
    if args.json:
        print(json.dumps(record))
        return
    print(f"EoC initialisation: {sol.activation_name}, s = {sol.sparsity:g}, q* = {sol.q_star:g}")
    for key, label in _LABELS.items():
        value = record[key]
        if value is None:
            shown = "n/a (no clipping parameter)" if key == "m" else "n/a (needs 0 < V'(q*) < 1)"
        else:
            shown = value if isinstance(value, str) else f"{value:.10g}"
        print(f"  {label:<28} {shown}")


def _print_correlation(sol, args) -> None:
    record = correlation_record(sol, args.rho0, args.width, args.depth)
    if args.json:
        print(json.dumps(record))
        return
    n = args.width
    print(f"correlation of two inputs: {sol.activation_name}, s = {sol.sparsity:g}, q* = {sol.q_star:g}, "
          f"V'(q*) = {float(sol.vprime):.6g}, rho0 = {args.rho0:g}, N = {n}, L = {args.depth}")
    print(f"  E rho = rho_inf + shift/N + O(1/N^2); sd rho = sqrt(N Var rho / N); zeta = sd rho / min(1 - rho_inf, "
          f"1 + rho_inf), in the regime when zeta <= {ZETA_MAX:g}")
    print(f"  {'layer':>5} {'rho_inf':>12} {'1 - rho_inf':>11} {'shift':>10} {'shift/N':>11} {'E rho':>12} "
          f"{'sd rho':>10} {'zeta':>7}")
    for i, layer in enumerate(record["layer"]):
        mark = "" if record["in_regime"][i] else "  outside regime"
        print(f"  {layer:>5d} {record['rho_inf'][i]:>12.8f} {record['gap'][i]:>11.4e} {record['shift'][i]:>10.5f} "
              f"{record['shift'][i] / n:>+11.3e} {record['mean'][i]:>12.8f} {record['sd'][i]:>10.3e} "
              f"{record['zeta'][i]:>7.3f}{mark}")
    first = record["first_layer_outside_regime"]
    if first is not None:
        print(f"  caution: from layer {first} the spread of rho is more than {ZETA_MAX:g} of 1 - rho_inf: "
              "the O(1/N) expansion does not hold there (theory.correlation)")


def _print_products(sol, args) -> None:
    record = products_record(sol, args.width, args.depth, args.k)
    if args.json:
        print(json.dumps(record))
        return
    n, depth = args.width, args.depth
    print(f"log prod chi1 and log |delta^(1)|^2: {sol.activation_name}, s = {sol.sparsity:g}, q* = {sol.q_star:g}, "
          f"V'(q*) = {float(sol.vprime):.6g}, N = {n}, L = {depth}")
    print(f"  E log prod chi1          {record['log_prod_chi1_mean']:.6g}   (next order {record['log_prod_chi1_mean_next']:+.3g})")
    print(f"  Var log prod chi1        {record['log_prod_chi1_var']:.6g}   (next order {record['log_prod_chi1_var_next']:+.3g})")
    for name in SOURCES:
        print(f"    {name:<22} {record['log_prod_chi1_var_' + name]:.6g}")
    print(f"  E log |delta^(1)|^2      {record['log_back_norm2_mean']:.6g}")
    print(f"  Var log |delta^(1)|^2    {record['log_back_norm2_var']:.6g}   (gradient noise {record['log_back_norm2_var_gradient']:.4g})")
    print(f"  P(prod chi1 in [1/K, K]) {record['stable_fraction']:.4g}   (K = {args.k:g}, log-normal)")
    if record["validity"]:
        print(f"  caution: {record['validity']}")


if __name__ == "__main__":
    sys.exit(main())
