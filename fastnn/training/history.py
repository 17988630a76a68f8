"""The record of a training run: per-epoch metrics, and how the run ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class History:
    """Per-epoch ``loss`` and ``accuracy``, measured on each epoch's forward pass (before that
    epoch's update, as in the lab); ``val_loss`` and ``val_accuracy`` on the validation data
    after the epoch's update, when there is validation data. ``stopped_early`` when the target
    accuracy ended the run, ``interrupted`` when Ctrl-C did."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    stopped_early: bool = False
    interrupted: bool = False

    @property
    def epochs(self) -> int:
        """How many epochs ran."""
        return len(self.loss)

    def to_csv(self, path: str | Path) -> None:
        """Write ``epoch,loss,accuracy[,val_loss,val_accuracy]`` rows, epochs counted from 1."""
        cols = ["loss", "accuracy"] + (["val_loss", "val_accuracy"] if self.val_loss else [])
        values = [getattr(self, c) for c in cols]
        rows = [",".join(["epoch", *cols])]
        rows += [",".join([str(i), *(repr(v) for v in vs)])
                 for i, vs in enumerate(zip(*values, strict=True), start=1)]
        Path(path).write_text("\n".join(rows) + "\n")
