"""``fastnn verify``: every backend against the reference, on the golden configurations."""

from __future__ import annotations

import argparse

from .._checks import check_choice
from .runspec import check_field


def cmd_verify(args: argparse.Namespace) -> int:
    """``fastnn verify``: backend-vs-reference differences; exit 1 past tolerance."""
    from . import verify

    dtype = check_field("dtype", args.dtype)
    if args.config == "all":
        configs = list(verify.CONFIGS.values())
    elif args.config in verify.CONFIGS:
        configs = [verify.CONFIGS[args.config]]
    elif args.config.endswith(".json"):
        configs = [verify.config_from_json(args.config)]
    else:
        check_choice("config", args.config, [*verify.CONFIGS, "all", "FILE.json"])
    backends = args.backends
    for name in backends or []:
        check_field("backend", name, name="--backends")
    rows = []
    for i, cfg in enumerate(configs):  # the kernels once, then each trajectory
        rows += verify.verify(cfg, dtype=dtype, backends=backends, kernels=i == 0)
    rows += verify.engine(dtype=dtype, backends=backends)
    print(verify.format_table(rows))
    bad = [r for r in rows if not r["ok"]]
    print(f"{len(rows) - len(bad)} of {len(rows)} checks within tolerance ({dtype})")
    return 1 if bad else 0
