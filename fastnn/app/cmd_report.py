"""``fastnn report lab1``: the lab's experiments, reproduced into OUT/REPORT.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._checks import check_choice
from .cmd_sweep import executor_from_args
from .common import OutFolder
from .runspec import check_field
from .sweep import open_pool


def cmd_report(args: argparse.Namespace) -> int:
    """``fastnn report lab1``: the lab's experiments, reproduced into OUT/REPORT.md."""
    from . import report

    check_choice("report", args.name, ["lab1"])
    if args.backend is not None:
        check_field("backend", args.backend)
    check_field("epochs", args.epochs)  # the runs are RunSpecs: checked again, but before --out

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    # a cluster is reached before anything is written
    with open_pool(executor_from_args(args)) as pool, OutFolder(Path(args.out)):
        log(f"fastnn report {args.name}: runs on {pool.describe()}")
        path = report.lab1(args.out, backend=args.backend, epochs=args.epochs, log=log,
                           executor=pool)
    print(f"wrote {path}")
    return 0
