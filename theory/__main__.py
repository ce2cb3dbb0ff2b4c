"""Command line of the theory package.

    python -m theory eoc --activation crelu --sparsity 0.85 --qstar 1 --vprime 0.7 [--json]
    python -m theory table
"""

from __future__ import annotations

import argparse
import json
import sys

from theory.activations import FAMILIES
from theory.eoc import EoCError, solve_eoc
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
    eoc.add_argument("--activation", required=True, choices=sorted(FAMILIES), help="activation family")
    eoc.add_argument("--sparsity", type=float, required=True, help="target fraction of zero activations s in (0, 1)")
    eoc.add_argument("--qstar", type=float, default=1.0, help="fixed-point variance q* > 0 (default 1)")
    clip = eoc.add_mutually_exclusive_group()
    clip.add_argument("--vprime", type=float, help="target V'(q*) in (0, 1) for clipped families")
    clip.add_argument("--m", type=float, help="clipping value m instead of --vprime")
    eoc.add_argument("--json", action="store_true", help="print one JSON object")

    sub.add_parser("table", help="published theory columns beside their computation")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "table":
        print("\n\n".join(format_table(name, compare_table(name)) for name in TABLES))
        return 0
    try:
        sol = solve_eoc(args.activation, args.sparsity, args.qstar, vprime=args.vprime, m=args.m)
    except EoCError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    record = sol.as_dict()
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"EoC initialisation: {sol.activation_name}, s = {sol.sparsity:g}, q* = {sol.q_star:g}")
    for key, label in _LABELS.items():
        value = record[key]
        shown = "n/a (needs 0 < V'(q*) < 1)" if value is None else (value if isinstance(value, str) else f"{value:.10g}")
        print(f"  {label:<28} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
