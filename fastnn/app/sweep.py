"""Grids of training runs: what ``fastnn sweep`` and ``fastnn report lab1`` run them with.

- :func:`expand` turns a grid (setting -> its values) into one checked
  :class:`~fastnn.app.runspec.RunSpec` per combination, each named for its folder.
- :class:`Executor` says where tasks run: in this process, in worker processes (joblib), or on a
  Dask distributed cluster; :func:`open_pool` connects it and :meth:`Pool.map` runs a picklable
  function over picklable tasks, results in task order, each handed to a callback as it arrives.
- :func:`run_row` trains one run as ``fastnn train`` does (same code path, same files in its
  folder) and returns its row of ``sweep.csv``; a run that fails is a row saying why.
- :func:`sweep` ties them together: finished runs of an earlier sweep into the same folder are
  skipped, ``sweep.csv`` is rewritten whole as each row arrives, and ``sweep.png`` summarizes it.

Every run is seeded by its own settings (its RunSpec), so its numbers do not depend on the
executor, the order or the worker: a sweep in one process, in two, or on a cluster writes the
same losses and weights, bit for bit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..io.atomic import write_text
from ..threads import limit_threads
from ..training import DivergenceError
from ..training.callbacks import Terminated
from .runspec import _NAME, RunSpec, SpecError, check_field, flag, kind_of

#: Settings a grid may not set: where and how a run reports, which the sweep decides.
NOT_IN_GRID = frozenset({"out", "name", "quiet", "log_every", "checkpoint_every", "threads"})
#: Settings a grid may set, in the order runs are expanded and named.
GRID_KEYS = tuple(f.name for f in fields(RunSpec) if f.name not in NOT_IN_GRID)
#: Settings that are lists themselves (one value is a list of numbers).
LIST_VALUED = frozenset({"hidden", "clip"})
#: Settings every row of ``sweep.csv`` shows, whether the grid sets them or not.
SHOWN = ("data", "model", "hidden", "activation", "output_activation", "optimizer", "lr",
         "epochs", "loss", "init", "batch_size", "seed", "backend", "dtype")
#: Result columns of ``sweep.csv``, after the run's name, id and settings.
RESULTS = ("final_loss", "final_accuracy", "test_loss", "test_accuracy", "val_loss",
           "val_accuracy", "epochs_run", "seconds", "status", "error", "worker")
#: A row's ``status``.
OK, DIVERGED, ERROR, INTERRUPTED = "ok", "diverged", "error", "interrupted"
#: The sweep's files in its folder.
CSV_NAME, FIGURE_NAME = "sweep.csv", "sweep.png"


# -- the grid -----------------------------------------------------------------------------------

def expand(grid: Mapping[str, Sequence], out: str | Path,
           names: Mapping[str, str] | None = None) -> list[RunSpec]:
    """One RunSpec per combination of ``grid``'s values, each checked, in a deterministic order.

    Parameters
    ----------
    grid : mapping
        Setting -> list of its values (JSON values; ``hidden`` values are lists of sizes).
        Settings with one value are the same in every run.
    out : path
        The sweep's folder: run ``i`` goes to ``out / name`` (see :func:`run_name`).
    names : mapping, optional
        How messages call each setting (default: its flag).

    Returns
    -------
    list of RunSpec
        Each with ``name`` (its folder's name), ``out`` (an absolute path) and ``quiet``.

    Raises
    ------
    ValueError
        For an unknown setting, an empty or repeated value list, an invalid value (naming the
        setting and the value) or a combination no run can have (naming the run).
    """
    names = dict(names or {})
    unknown = [k for k in grid if k not in GRID_KEYS]
    if unknown:
        allowed = ", ".join(k for k in GRID_KEYS)
        raise ValueError(f"{', '.join(unknown)}: not a setting a sweep can vary; choose from: "
                         f"{allowed}")
    keys = [k for k in GRID_KEYS if k in grid]
    values: dict[str, list] = {}
    for k in keys:
        name = names.get(k, flag(k))
        vs = list(grid[k])
        if not vs:
            raise ValueError(f"{name} has no value")
        checked = [_check_value(k, v, name) for v in vs]
        for i, v in enumerate(checked):
            if v in checked[:i]:
                raise ValueError(f"{name} lists {_show(k, v)} twice")
        values[k] = checked
    varied = [k for k in keys if len(values[k]) > 1]
    out = Path(out).absolute()
    specs = []
    for combo in itertools.product(*(values[k] for k in keys)):
        settings = dict(zip(keys, combo, strict=True))
        label = "_".join(f"{k}={_show(k, settings[k])}" for k in varied)
        try:
            if (settings.get("n") is not None and settings.get("data", "xor") == "xor"
                    and (len(values.get("n", ())) > 1 or "xor" in values.get("data", ["xor"])
                         and len(values.get("data", ["xor"])) == 1)):
                # as `fastnn train` refuses it: XOR is a fixed grid, so an n for XOR alone, or
                # several n, would be runs identical but for their names. One n in a grid that
                # also has a random data set is that data set's (XOR's runs have none).
                raise SpecError("n", f"{_NAME} does not apply to 'xor', a fixed grid of 21 "
                                     "points")
            spec = RunSpec(**settings, quiet=True)
        except SpecError as e:
            where = f"the run {label}: " if label else ""
            raise ValueError(where + e.named(names.get(e.field, flag(e.field)))) from None
        name = f"{label}-{run_id(spec)}" if label else f"run-{run_id(spec)}"
        specs.append(replace(spec, name=name, out=str(out / name)))
    return specs


def _check_value(key: str, value, name: str):
    """``value`` normalized as the RunSpec stores it, or ValueError naming ``name``."""
    if key == "data":
        try:
            kind_of(value)
        except SpecError as e:
            raise ValueError(e.named(name)) from None
        return value
    if value is None:
        return value
    if key in LIST_VALUED and isinstance(value, list):
        value = tuple(value)
    return check_field(key, value, name)


def _show(key: str, value) -> str:
    """A value as it appears in a run's folder name."""
    if isinstance(value, tuple):
        return ("x" if key == "hidden" else "..").join(_show(key, v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return str(value).lower()
    if key == "data" and kind_of(value) == "file":
        return Path(value).stem
    return str(value)


def run_id(spec: RunSpec) -> str:
    """A short digest of every setting that changes a run's numbers: equal settings, equal id."""
    settings = {k: v for k, v in spec.to_dict().items() if k in GRID_KEYS}
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"4,4"`` or ``"4x4"`` -> (4, 4); ValueError otherwise."""
    parts = text.replace("x", ",").split(",")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{text!r} is not a list of sizes such as 4,4") from None


def parse_numbers(text: str) -> tuple[float, ...]:
    """``"5"`` or ``"-1024,1023"`` -> (5.0,) or (-1024.0, 1023.0); ValueError otherwise."""
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise ValueError(f"{text!r} is not C or LO,HI") from None


def read_grid(path: str | Path) -> dict[str, list]:
    """A grid from a TOML file: ``setting = value`` or ``setting = [values...]``.

    A setting whose values are lists (``hidden``, ``clip``) takes a list of numbers as one
    value (``hidden = [4, 4]``) and a list of such lists as several
    (``hidden = [[4, 4], [8, 8]]``).
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from None
    grid = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            raise ValueError(f"{path}: {key}: tables are not settings; write "
                             "'setting = value' or 'setting = [values]' at the top level")
        several = isinstance(value, list) and (
            key not in LIST_VALUED or bool(value) and all(isinstance(v, list) for v in value))
        grid[key] = value if several else [value]
    return grid


# -- executors ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Executor:
    """Where tasks run.

    ``scheduler`` (a Dask scheduler's address, ``tcp://HOST:PORT``) or ``scheduler_file`` (the
    JSON file ``dask scheduler --scheduler-file`` writes): on that Dask distributed cluster.
    Otherwise ``jobs`` worker processes through joblib (None: one per core), or this process
    alone when ``jobs`` is 1.
    """

    jobs: int | None = 1
    scheduler: str | None = None
    scheduler_file: str | None = None

    @property
    def dask(self) -> bool:
        """Whether tasks go to a Dask cluster."""
        return self.scheduler is not None or self.scheduler_file is not None

    @property
    def processes(self) -> int:
        """The local worker processes (1: this process)."""
        return self.jobs if self.jobs is not None else cores()

    @property
    def parallel(self) -> bool:
        """Whether several tasks may run at once."""
        return self.dask or self.processes > 1


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _indexed(fn: Callable, index: int, task):
    return index, fn(task)


class Pool:
    """An open executor: :meth:`map` runs tasks on it."""

    def __init__(self, executor: Executor, client=None) -> None:
        self.executor, self.client = executor, client

    def describe(self) -> str:
        """Where the tasks run, for a message."""
        if self.client is not None:
            workers = self.client.scheduler_info().get("workers", {})
            return f"the Dask cluster at {self.client.scheduler.address} ({len(workers)} workers)"
        n = self.executor.processes
        return "this process" if n == 1 else f"{n} processes"

    def map(self, fn: Callable, tasks: Sequence, on_result: Callable | None = None) -> list:
        """``[fn(task) for task in tasks]``, run where the executor says.

        ``fn`` and the tasks must be picklable (``fn`` a module-level function) for processes
        and clusters. ``on_result(index, result)`` is called in this process as each result
        arrives (in any order). Ctrl-C stops waiting: tasks not started are cancelled.
        """
        tasks = list(tasks)
        results: list = [None] * len(tasks)

        def arrived(index: int, result) -> None:
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        if not tasks:
            return results
        if self.client is not None:
            self._map_dask(fn, tasks, arrived)
        elif self.executor.processes == 1 or len(tasks) == 1:
            for i, task in enumerate(tasks):
                arrived(i, fn(task))
        else:
            self._map_joblib(fn, tasks, arrived)
        return results

    def _map_joblib(self, fn: Callable, tasks: list, arrived: Callable) -> None:
        from joblib import Parallel, delayed

        n = min(self.executor.processes, len(tasks))
        results = Parallel(n_jobs=n, return_as="generator_unordered")(
            delayed(_indexed)(fn, i, task) for i, task in enumerate(tasks))
        try:
            for i, result in results:
                arrived(i, result)
        finally:
            with warnings.catch_warnings():  # joblib's note that it cancelled the tasks left
                warnings.simplefilter("ignore", UserWarning)
                results.close()  # on Ctrl-C: no further task starts

    def _map_dask(self, fn: Callable, tasks: list, arrived: Callable) -> None:
        from distributed import as_completed

        token = uuid.uuid4().hex[:8]
        futures = [self.client.submit(_indexed, fn, i, task, key=f"fastnn-{token}-{i}")
                   for i, task in enumerate(tasks)]
        try:
            for _, (i, result) in as_completed(futures, loop=self.client.loop, with_results=True):
                arrived(i, result)
        finally:
            self.client.cancel(futures)  # results arrived are kept; the rest is dropped


@contextmanager
def open_pool(executor: Executor | Pool) -> Iterator[Pool]:
    """Connect ``executor`` (a Dask client for a cluster); the :class:`Pool` to map tasks on.
    A Pool is used as it is (and left open).

    Raises
    ------
    ValueError
        When Dask is not installed, or its scheduler cannot be reached.
    """
    if isinstance(executor, Pool):
        yield executor
        return
    if not executor.dask:
        yield Pool(executor)
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("a Dask cluster needs Dask's distributed package: "
                         "pip install 'fastnn[distributed]'") from None
    where = executor.scheduler or executor.scheduler_file
    try:
        if executor.scheduler is not None:
            client = Client(executor.scheduler, timeout=10, set_as_default=False)
        else:
            client = Client(scheduler_file=executor.scheduler_file, timeout=10,
                            set_as_default=False)
    except (OSError, ValueError) as e:  # refused, timed out, unreadable scheduler file
        raise ValueError(f"cannot reach the Dask scheduler at {where!r}: {e}") from None
    try:
        yield Pool(executor, client)
    finally:
        client.close()


def run_tasks(fn: Callable, tasks: Sequence, executor: Executor | None = None,
              on_result: Callable | None = None) -> list:
    """``[fn(task) for task in tasks]`` on ``executor`` (default: this process), results in
    task order; see :meth:`Pool.map`."""
    with open_pool(executor or Executor()) as pool:
        return pool.map(fn, tasks, on_result)


@contextmanager
def task_threads(n: int | None) -> Iterator[None]:
    """Inside a task: fastnn's thread policy on ``n`` threads (None: as it is)."""
    if n is None:
        yield
    else:
        with limit_threads(n):
            yield


def worker_name() -> str:
    """Where this task runs: the Dask worker's address, or ``local:PID``."""
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            return get_worker().address
        except ValueError:  # not inside a Dask worker
            pass
    return f"local:{os.getpid()}"


# -- one run ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepTask:
    """One run of a sweep: its settings (``spec.out`` is its folder), and the threads it may
    use (None: the process's own policy)."""

    spec: RunSpec
    threads: int | None = None


#: Runs in one process go one at a time: matplotlib's pyplot and the thread policy are per
#: process, so a Dask worker with several threads would otherwise mix two runs' figures.
_ONE_RUN_AT_A_TIME = threading.Lock()


def run_row(task: SweepTask) -> dict:
    """Train one run into its folder, as ``fastnn train`` does, and return its row.

    Runs called from several threads of one process take turns. Never raises for a failing
    run: divergence is a row with status ``diverged``, any other exception a row with status
    ``error``, each with its message; Ctrl-C or SIGTERM during the run is status
    ``interrupted``, with the signal as its error (a rerun of the sweep trains it again from
    its first epoch).
    """
    from .train import train_new

    start = time.perf_counter()
    row = {"status": OK, "error": ""}
    try:
        with _ONE_RUN_AT_A_TIME, task_threads(task.threads):
            config = train_new(task.spec)
    except DivergenceError as e:
        row.update(status=DIVERGED, error=str(e))
    except KeyboardInterrupt:
        row.update(status=INTERRUPTED, error="SIGINT")
    except Terminated:
        row.update(status=INTERRUPTED, error="SIGTERM")
    except Exception as e:  # noqa: BLE001  (a failing run is a row, not the end of the sweep)
        row.update(status=ERROR, error=f"{type(e).__name__}: {e}")
    else:
        row.update({k: config.get(k, "") for k in RESULTS[:-3]})
    if row["status"] != OK:
        row["seconds"] = time.perf_counter() - start
    row["worker"] = worker_name()
    return row


# -- the sweep ----------------------------------------------------------------------------------

def columns(specs: Sequence[RunSpec], grid_keys: Sequence[str] = ()) -> list[str]:
    """``sweep.csv``'s header: run, id, the settings shown (and any other the grid sets), then
    the results."""
    shown = [k for k in GRID_KEYS if k in SHOWN or k in grid_keys]
    return ["run", "id", *shown, *RESULTS]


def settings_row(spec: RunSpec, header: Sequence[str]) -> dict:
    """The run's name, id and settings as ``sweep.csv`` writes them."""
    row = {"run": spec.name, "id": run_id(spec)}
    for k in header:
        if k in GRID_KEYS:
            v = getattr(spec, k)
            row[k] = ("" if v is None else ",".join(_cell(x) for x in v)
                      if isinstance(v, tuple) else _cell(v))
    return row


def _cell(v) -> str:
    """A value as ``sweep.csv`` writes it: floats in full (``repr``: read back, the same
    float), bools lowercase, None empty."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def read_rows(path: Path) -> list[dict]:
    """The rows of an earlier ``sweep.csv`` (none when there is no readable one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return list(csv.DictReader(io.StringIO(text)))


def write_rows(path: Path, header: Sequence[str], rows: Sequence[dict]) -> None:
    """Write ``sweep.csv`` whole (atomically)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(header), restval="", extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    write_text(path, buf.getvalue())


@dataclass
class SweepResult:
    """What a sweep did: every row in grid order (None for a run that did not finish), how
    many were skipped as finished earlier, and the files written."""

    rows: list[dict | None]
    skipped: int
    csv: Path
    figure: Path | None

    def count(self, status: str) -> int:
        """Rows with this status."""
        return sum(1 for r in self.rows if r is not None and r["status"] == status)


def finished(row: Mapping, folder: Path) -> bool:
    """Whether an earlier row is a finished run whose folder still holds its results."""
    return row.get("status") == OK and (folder / "config.json").is_file()


def sweep(specs: Sequence[RunSpec], out: str | Path, pool: Pool, threads: int | None = None,
          grid_keys: Sequence[str] = (), progress: Callable[[int, int, dict], None] | None = None,
          log: Callable[[str], None] | None = None) -> SweepResult:
    """Run ``specs`` (from :func:`expand`) on ``pool`` and write ``out/sweep.csv`` and
    ``out/sweep.png``.

    A run whose row in an earlier ``sweep.csv`` of ``out`` says ``ok`` (same id, its folder
    still holding ``config.json``) is not run again: its row is kept. ``sweep.csv`` is written
    whole after each row, so an interrupted sweep leaves the rows so far. ``progress(done,
    total, row)`` is called for each row as it arrives, ``log(line)`` once at the start.
    Ctrl-C or SIGTERM (KeyboardInterrupt or Terminated, also when a run in this process
    reports it) ends the sweep after writing the rows so far. ``threads``: each run's threads
    (default: 1 when ``pool`` runs tasks in parallel, else the process's own policy).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    header = columns(specs, grid_keys)
    path = out / CSV_NAME
    earlier = {r.get("id"): r for r in read_rows(path)}
    rows: list[dict | None] = [None] * len(specs)
    pending = []
    for i, spec in enumerate(specs):
        old = earlier.get(run_id(spec))
        if old is not None and finished(old, out / old.get("run", spec.name)):
            rows[i] = {**old, **settings_row(spec, header), "run": old["run"]}
        else:
            pending.append(i)
    skipped = len(specs) - len(pending)
    done = [skipped]
    if log is not None:
        log(f"fastnn sweep: {len(specs)} runs"
            + (f", {skipped} finished earlier (skipped)" if skipped else "")
            + f"; {len(pending)} to run on {pool.describe()}")
    write_rows(path, header, [r for r in rows if r is not None])

    def arrived(j: int, row: dict) -> None:
        i = pending[j]
        rows[i] = {**settings_row(specs[i], header), **row}
        write_rows(path, header, [r for r in rows if r is not None])
        done[0] += 1
        if progress is not None:
            progress(done[0], len(specs), rows[i])
        if row["status"] == INTERRUPTED and row.get("worker") == worker_name():
            # a run in this process took the signal: stop here (a worker stopped alone leaves
            # its row, which a rerun runs again, and the sweep goes on)
            raise Terminated if row["error"] == "SIGTERM" else KeyboardInterrupt

    threads = threads if threads is not None else 1 if pool.executor.parallel else None
    pool.map(run_row, [SweepTask(specs[i], threads) for i in pending], arrived)
    figure = out / FIGURE_NAME
    if not summary_figure([r for r in rows if r is not None], figure):
        figure = None
    return SweepResult(rows, skipped, path, figure)


def summary_figure(rows: Sequence[Mapping], path: Path) -> bool:
    """``sweep.png``: each run's final loss, and its test accuracy (its training accuracy,
    marked †, when its data has no test set); False (no figure) when no run finished."""
    from . import plots

    if not any(r.get("status") == OK for r in rows):
        return False
    losses, accs, marks = [], [], []
    for r in rows:
        ok = r.get("status") == OK
        test = _number(r.get("test_accuracy")) if ok else None
        losses.append(_number(r.get("final_loss")) if ok else None)
        accs.append(test if test is not None else _number(r.get("final_accuracy")) if ok
                    else None)
        marks.append(" †" if ok and test is None else "")
    title = "test accuracy" + (" († training: no test set)" if any(marks) else "")
    plots.sweep_summary([_label(str(r["run"])) for r in rows], losses, accs,
                        ["" if r.get("status") == OK else str(r.get("status")) for r in rows],
                        path, acc_title=title, acc_marks=marks)
    return True


def _label(run: str) -> str:
    """A run's folder name without its id: ``lr=0.1 hidden=4x4`` for a figure."""
    readable, _, digest = run.rpartition("-")
    return readable.replace("_", " ") if readable and len(digest) == 8 else run


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
