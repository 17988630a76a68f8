"""The record of a training run: per-epoch metrics, and how the run ended.

A history is bounded. It keeps every epoch up to :data:`HISTORY_LIMIT` recorded epochs; past
that it keeps every ``stride``-th epoch, doubling ``stride`` (and dropping every other entry)
each time the record would pass the limit again. A run of any length therefore holds between
``HISTORY_LIMIT / 2`` and ``HISTORY_LIMIT`` entries (memory, ``history.csv`` and the checkpoint
stay bounded: about 3 MB of CSV), always evenly spaced over the whole run. Which epochs are kept
depends only on the epoch numbers, so a run that is checkpointed and resumed keeps exactly the
epochs an uninterrupted run keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..io.atomic import write_text

#: The most epochs a history holds (see the module docstring).
HISTORY_LIMIT = 100_000

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass
class History:
    """Per-epoch ``loss`` and ``accuracy``, measured on each epoch's forward pass (before that
    epoch's update, as in the lab); ``val_loss`` and ``val_accuracy`` on the validation data
    after the epoch's update, when there is validation data. ``epoch`` numbers the entries
    (from 1): every epoch until the history thins out (see the module docstring), then every
    ``stride``-th; :attr:`epochs` is the number of the last epoch that ran. ``stopped_early``
    when the target accuracy ended the run; ``interrupted`` names the signal (``SIGINT`` or
    ``SIGTERM``) that did, or is ``None``."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    stride: int = 1
    ran: int = 0
    limit: int = field(default_factory=lambda: HISTORY_LIMIT)
    stopped_early: bool = False
    interrupted: str | None = None

    @property
    def epochs(self) -> int:
        """How many epochs ran (the number of the last one, kept or not)."""
        return self.ran

    def record(self, first: int, losses: Sequence[float], accuracies: Sequence[float],
               val: Sequence[tuple[float, float]] | None = None) -> None:
        """Add epochs ``first``, ``first + 1``, ... with their metrics (and, with validation
        data, one ``(val_loss, val_accuracy)`` pair per epoch); keep what the policy keeps."""
        self.ran = max(self.ran, first + len(losses) - 1)
        for i in range(len(losses)):
            e = first + i
            if e % self.stride:
                continue
            self.epoch.append(e)
            self.loss.append(float(losses[i]))
            self.accuracy.append(float(accuracies[i]))
            if val is not None:
                self.val_loss.append(float(val[i][0]))
                self.val_accuracy.append(float(val[i][1]))
            if len(self.epoch) > self.limit:
                self._thin()

    def _thin(self) -> None:
        self.stride *= 2
        keep = [i for i, e in enumerate(self.epoch) if e % self.stride == 0]
        for name in ("epoch", *METRICS):
            values = getattr(self, name)
            if values:
                setattr(self, name, [values[i] for i in keep])

    @classmethod
    def from_arrays(cls, arrays: dict, stride: int = 1, ran: int | None = None) -> History:
        """The history a checkpoint stored (``{"loss": array, ...}``; without ``epoch``, the
        entries are epochs 1, 2, ...), of a run that ran ``ran`` epochs (default: the last
        one kept)."""
        h = cls(stride=stride)
        for name in METRICS:
            if name in arrays:
                setattr(h, name, [float(v) for v in arrays[name]])
        h.epoch = [int(e) for e in arrays["epoch"]] if "epoch" in arrays else \
            list(range(1, len(h.loss) + 1))
        h.ran = ran if ran is not None else h.epoch[-1] if h.epoch else 0
        return h

    def to_csv(self, path: str | Path) -> None:
        """Write ``epoch,loss,accuracy[,val_loss,val_accuracy]`` rows, atomically."""
        write_text(path, self.csv_lines())

    def csv_lines(self):
        """The rows of :meth:`to_csv`, header first, one string per line."""
        cols = ["loss", "accuracy"] + (["val_loss", "val_accuracy"] if self.val_loss else [])
        values = [getattr(self, c) for c in cols]
        yield ",".join(["epoch", *cols])
        for e, vs in zip(self.epoch, zip(*values, strict=True), strict=True):
            yield ",".join([str(e), *(repr(v) for v in vs)])
