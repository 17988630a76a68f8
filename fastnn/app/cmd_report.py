"""``fastnn report lab1``: the lab's experiments, reproduced into OUT/REPORT.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._checks import check_choice
from .common import OutFolder
from .runspec import check_field


def cmd_report(args: argparse.Namespace) -> int:
    """``fastnn report lab1``: the lab's experiments, reproduced into OUT/REPORT.md."""
    from . import report

    check_choice("report", args.name, ["lab1"])
    if args.backend is not None:
        check_field("backend", args.backend)
    check_field("epochs", args.epochs)  # the runs are RunSpecs: checked again, but before --out
    with OutFolder(Path(args.out)):
        path = report.lab1(args.out, backend=args.backend, epochs=args.epochs,
                           log=lambda line: print(line, file=sys.stderr))
    print(f"wrote {path}")
    return 0
