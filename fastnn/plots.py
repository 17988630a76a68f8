"""Figures: ground truth beside prediction (the course's ``show_result``) and learning curves.

matplotlib is imported lazily with the Agg backend, so importing fastnn stays cheap and no
display is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def comparison(X: np.ndarray, y: np.ndarray, pred: np.ndarray, path: str | Path,
               title: str = "") -> None:
    """Save ground truth beside prediction for 2-D inputs: red for class 0, blue for class 1.

    Parameters
    ----------
    X : array (N, 2)
    y : array (N, 1) of 0/1 labels
    pred : array (N, 1) of model outputs; thresholded at 0.5
    path : where to write the PNG
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), sharex=True, sharey=True)
    for ax, labels, name in ((axes[0], y[:, 0] > 0.5, "Ground truth"),
                             (axes[1], pred[:, 0] > 0.5, "Predict result")):
        ax.scatter(X[~labels, 0], X[~labels, 1], c="red", s=25, label="0")
        ax.scatter(X[labels, 0], X[labels, 1], c="blue", s=25, label="1")
        ax.set_title(name)
        ax.set_xlabel("x0")
        ax.set_aspect("equal", adjustable="box")
    axes[0].set_ylabel("x1")
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), title="class")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_curve(curves: dict[str, Sequence[float]], path: str | Path, title: str = "",
                   ylabel: str = "loss") -> None:
    """Save loss per epoch (log scale) for one or more named runs, overlaid."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel + " (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
