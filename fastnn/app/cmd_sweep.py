"""``fastnn sweep``: a grid of training runs, in parallel processes or on a Dask cluster.

Every value of every flag (and of the ``--grid`` file) is checked, and every combination built
as a RunSpec, before anything is written or any cluster is contacted; the machinery is in
:mod:`.sweep`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._checks import check_in_range
from ..training.callbacks import Terminated
from . import sweep as sw
from .common import OutFolder, UsageError
from .runspec import check_field, flag

#: Worker processes at most (a typo guard: a sweep runs one process per core).
MAX_JOBS = 1024


def grid_from_args(args: argparse.Namespace) -> tuple[dict, dict]:
    """The grid the options describe (the ``--grid`` file's settings, replaced by any flag
    given), and how messages name each setting: its flag, or ``FILE: key``."""
    grid, names = {}, {}
    if args.grid is not None:
        for key, values in sw.read_grid(args.grid).items():
            grid[key], names[key] = values, f"{args.grid}: {key}"
    for key in sw.GRID_KEYS:
        value = getattr(args, key, None)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        if key in sw.LIST_VALUED:
            parse = sw.parse_sizes if key == "hidden" else sw.parse_numbers
            try:
                values = [parse(v) for v in values]
            except ValueError as e:
                raise UsageError(f"{flag(key)}: {e}") from None
        grid[key], names[key] = values, flag(key)
    return grid, names


def executor_from_args(args: argparse.Namespace) -> sw.Executor:
    """Where the runs go: ``--scheduler``/``--scheduler-file`` (Dask), else ``--jobs``."""
    if args.scheduler is not None and args.scheduler_file is not None:
        raise UsageError("give --scheduler or --scheduler-file, not both")
    dask = args.scheduler is not None or args.scheduler_file is not None
    if dask and args.jobs is not None:
        raise UsageError("--jobs is for local runs; on a Dask cluster the workers decide "
                         "how many runs go at once")
    if args.jobs is not None:
        check_in_range("--jobs", args.jobs, 1, MAX_JOBS, integer=True)
    return sw.Executor(jobs=args.jobs, scheduler=args.scheduler,
                       scheduler_file=args.scheduler_file)


def cmd_sweep(args: argparse.Namespace) -> int:
    """``fastnn sweep``: check the whole grid, then run it into ``--out``."""
    grid, names = grid_from_args(args)
    if not grid:
        raise UsageError("nothing to sweep: give settings with several values (--lr 1 0.1) "
                         "or a --grid file")
    out = Path(args.out)
    specs = sw.expand(grid, out, names)
    executor = executor_from_args(args)
    if args.threads is not None:
        check_field("threads", args.threads)
    quiet = bool(args.quiet)
    total, done = len(specs), [0]

    def log(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr)

    def progress(n: int, total: int, row: dict) -> None:
        done[0] = n
        if quiet:
            return
        status = row["status"]
        if status == sw.OK:
            acc = row.get("test_accuracy", "")
            what = (f"loss={float(row['final_loss']):.4g} accuracy="
                    f"{float(row['final_accuracy']):.2%}"
                    + (f" test_accuracy={float(acc):.2%}" if acc not in ("", None) else ""))
        else:
            what = f"{status}: {row['error']}"
        print(f"[{n}/{total}] {row['run']}: {what} ({float(row['seconds']):.2f} s, "
              f"{row['worker']})", file=sys.stderr)

    with sw.open_pool(executor) as pool, OutFolder(out):
        try:
            result = sw.sweep(specs, out, pool, threads=args.threads,
                              grid_keys=list(grid), progress=progress, log=log)
        except (KeyboardInterrupt, Terminated) as e:
            signal = "SIGTERM" if isinstance(e, Terminated) else "SIGINT"
            print(f"fastnn: sweep interrupted ({signal}): {done[0]} of {total} runs in "
                  f"{out / sw.CSV_NAME}; run the same command again to resume",
                  file=sys.stderr)
            return 143 if signal == "SIGTERM" else 130
    failed = result.count(sw.ERROR)
    counts = (f"{total} runs: {result.count(sw.OK)} ok, {result.count(sw.DIVERGED)} diverged, "
              f"{failed} failed" + (f"; {result.skipped} had finished earlier"
                                    if result.skipped else ""))
    figure = f" and {result.figure.name}" if result.figure is not None else ""
    print(f"wrote {result.csv}{figure} ({counts})")
    if failed:
        print(f"fastnn: {failed} run{'s' if failed > 1 else ''} failed: see the error column "
              f"of {result.csv}", file=sys.stderr)
        return 1
    return 0
