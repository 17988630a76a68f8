"""``fastnn bench``: run the benchmark suite, write its reports, compare with a baseline.

The command lives apart from :mod:`fastnn.app.bench` (the suite's runner and report writer) so
that module stays free of argument handling.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import OutFolder


def cmd_bench(args: argparse.Namespace) -> int:
    """``fastnn bench``: run the suite, write reports, optionally compare with a baseline."""
    from . import bench

    if not 0 < args.threshold < 10:
        raise ValueError(f"--threshold must be a fraction like 0.25, got {args.threshold!r}")
    if args.report_only is not None:
        if args.full or args.filter or args.compare is not None:
            raise ValueError("--report-only writes reports from a finished run's json; it runs "
                             "nothing, so --full, --filter and --compare do not apply")
        results = bench.load_results(args.report_only)
        with OutFolder(Path(args.out)):
            bench.write_reports(results, args.out, readme=args.readme, log=print)
        return 0
    if args.readme is not None and (not args.full or args.filter):
        raise ValueError("--readme needs a whole run: the README's block states a --full run of "
                         "every workload; add --full and drop --filter")
    bench.benchmarks_dir()
    if args.compare is not None:
        bench.load_results(args.compare)
    with OutFolder(Path(args.out)):
        return bench.bench(args.out, full=args.full, filter=args.filter, baseline=args.compare,
                           threshold=args.threshold, readme=args.readme,
                           log=print)
