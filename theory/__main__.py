"""Command line of the theory package.

    python -m theory eoc --activation crelu --sparsity 0.85 --qstar 1 --vprime 0.7 [--json]
    python -m theory products --activation crelu --sparsity 0.85 --qstar 1 --vprime 0.7 --width 300 --depth 100 [--json]
    python -m theory correlation --activation crelu --sparsity 0.85 --qstar 1 --vprime 0.7 --rho0 0.5 --width 1000 --depth 50 [--json]
    python -m theory table
"""

from __future__ import annotations

import argparse
import json
import sys

from theory.activations import FAMILIES
from theory.correlation import ZETA_MAX, correlation_record
from theory.eoc import EoCError, solve_eoc
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m theory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    eoc = sub.add_parser("eoc", help="solve the Edge-of-Chaos initialisation")
    _network_arguments(eoc)
    products = sub.add_parser("products", help="distribution of log prod chi1 and of the back-propagated norm at width N")
    _network_arguments(products)
    products.add_argument("--width", type=int, required=True, help="width N of every layer (>= 2)")
    products.add_argument("--depth", type=int, required=True, help="depth L (>= 2)")
    products.add_argument("--k", type=float, default=10.0, metavar="K", help="Definition 2.1 band: prod chi1 in [1/K, K] (default 10)")

    corr = sub.add_parser("correlation", help="O(1/N) mean and spread of the correlation of two inputs, per layer")
    _network_arguments(corr)
    corr.add_argument("--rho0", type=float, default=0.5,
                      help="layer-1 correlation of the two inputs in (-1, 1) (default 0.5)")
    corr.add_argument("--width", type=int, required=True, help="width N of every layer (>= 2)")
    corr.add_argument("--depth", type=int, required=True, help="depth L (>= 2)")

    sub.add_parser("table", help="published theory columns beside their computation")
    return parser


def _network_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activation", required=True, choices=sorted(FAMILIES), help="activation family")
    p.add_argument("--sparsity", type=float, required=True, help="target fraction of zero activations s in (0, 1)")
    p.add_argument("--qstar", type=float, default=1.0, help="fixed-point variance q* > 0 (default 1)")
    clip = p.add_mutually_exclusive_group()
    clip.add_argument("--vprime", type=float, help="target V'(q*) in (0, 1) for clipped families")
    clip.add_argument("--m", type=float, help="clipping value m instead of --vprime")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "table":
        print("\n\n".join(format_table(name, compare_table(name)) for name in TABLES))
        return 0
    try:
        if args.command == "products":
            _check_products(args)
        if args.command == "correlation":
            _check_correlation(args)
        sol = solve_eoc(args.activation, args.sparsity, args.qstar, vprime=args.vprime, m=args.m)
    except EoCError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "products":
        return _print_products(sol, args)
    if args.command == "correlation":
        return _print_correlation(sol, args)
    record = sol.as_dict()
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"EoC initialisation: {sol.activation_name}, s = {sol.sparsity:g}, q* = {sol.q_star:g}")
    for key, label in _LABELS.items():
        value = record[key]
        if value is None:
            shown = "n/a (no clipping parameter)" if key == "m" else "n/a (needs 0 < V'(q*) < 1)"
        else:
            shown = value if isinstance(value, str) else f"{value:.10g}"
        print(f"  {label:<28} {shown}")
    return 0


def _check_products(args) -> None:
    if args.width < 2:
        raise EoCError(f"--width must be an integer >= 2, got {args.width}")
    if args.depth < 2:
        raise EoCError(f"--depth must be an integer >= 2, got {args.depth}")
    if not args.k > 1.0:
        raise EoCError(f"--k must be > 1, got {args.k:g}")


def _check_correlation(args) -> None:
    if not -1.0 < args.rho0 < 1.0:
        raise EoCError(f"--rho0 must lie in (-1, 1), got {args.rho0:g}")
    if args.width < 2:
        raise EoCError(f"--width must be an integer >= 2, got {args.width}")
    if args.depth < 2:
        raise EoCError(f"--depth must be an integer >= 2, got {args.depth}")


def _print_correlation(sol, args) -> int:
    record = correlation_record(sol, args.rho0, args.width, args.depth)
    if args.json:
        print(json.dumps(record))
        return 0
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
    return 0


def _print_products(sol, args) -> int:
    record = products_record(sol, args.width, args.depth, args.k)
    if args.json:
        print(json.dumps(record))
        return 0
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
