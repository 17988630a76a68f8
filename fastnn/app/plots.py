"""Figures: ground truth beside prediction (the course's ``show_result``), learning curves,
and for classifiers a confusion matrix and a grid of misclassified images.

matplotlib is imported lazily with the Agg backend, so importing fastnn stays cheap and no
display is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write

#: Scatter plots show at most this many points.
MAX_POINTS = 5000


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, dpi: int) -> None:
    """Save ``fig`` as a PNG atomically (see :func:`fastnn.io.atomic.atomic_write`)."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi))


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
    if len(X) > MAX_POINTS:  # a readable figure and bounded memory: a seeded sample
        keep = np.sort(np.random.default_rng(0).choice(len(X), MAX_POINTS, replace=False))
        X, y, pred = X[keep], y[keep], pred[keep]
        title = f"{title} ({MAX_POINTS:,} points shown)".strip()
    # matplotlib's axis ticks overflow near 1e308 and lose 1e-300s: an extreme column is drawn
    # divided by its largest |x|, which its axis label states
    X = np.array(X, dtype=np.float64)
    units = ["", ""]
    for j in range(2):
        top = float(np.abs(X[:, j]).max()) if len(X) else 0.0
        if top > 1e100 or 0 < top < 1e-100:
            X[:, j] /= top
            units[j] = f" (x {top:.3g})"
    # equal axes only for comparable spans: 1 against 1e16 makes matplotlib's transform singular
    spans = np.ptp(X, axis=0) if len(X) else np.zeros(2)
    equal = spans.min() > 0 and spans.max() < 100 * spans.min()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), sharex=True, sharey=True)
    try:
        for ax, labels, name in ((axes[0], y[:, 0] > 0.5, "Ground truth"),
                                 (axes[1], pred[:, 0] > 0.5, "Predict result")):
            ax.scatter(X[~labels, 0], X[~labels, 1], c="red", s=25, label="0")
            ax.scatter(X[labels, 0], X[labels, 1], c="blue", s=25, label="1")
            ax.set_title(name)
            ax.set_xlabel("x0" + units[0])
            if equal:
                ax.set_aspect("equal", adjustable="box")
        axes[0].set_ylabel("x1" + units[1])
        axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), title="class")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        _save(fig, path, dpi=100)
    finally:
        plt.close(fig)


def learning_curve(curves: dict[str, Sequence[float]], path: str | Path, title: str = "",
                   ylabel: str = "loss", epochs: Sequence[int] | None = None) -> None:
    """Save loss per epoch (log scale) for one or more named runs, overlaid; ``epochs`` numbers
    the values (default 1, 2, ...; a long run's history is thinned)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, values in curves.items():
        x = np.arange(1, len(values) + 1) if epochs is None else epochs
        ax.plot(x, values, label=name, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel + " (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save(fig, path, dpi=100)
    plt.close(fig)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, path: str | Path,
                     n_classes: int = 10, title: str = "") -> np.ndarray:
    """Save the confusion matrix (rows: true class, columns: predicted) as a PNG; return it.

    Parameters
    ----------
    y_true, y_pred : int arrays (N,) of class indices in [0, n_classes)
    path : where to write the PNG
    """
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.5))
    im = ax.imshow(cm, cmap="Blues")
    for t in range(n_classes):
        for p in range(n_classes):
            if cm[t, p]:
                ax.text(p, t, str(cm[t, p]), ha="center", va="center", fontsize=8,
                        color="white" if cm[t, p] > cm.max() / 2 else "black")
    ax.set_xticks(range(n_classes))
    ax.set_yticks(range(n_classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title or f"confusion matrix ({np.trace(cm)}/{cm.sum()} correct)")
    fig.tight_layout()
    _save(fig, path, dpi=100)
    plt.close(fig)
    return cm


def misclassified_grid(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                       path: str | Path, max_images: int = 36, title: str = "") -> int:
    """Save a grid of the misclassified images, each titled "true→predicted"; return their count.

    Parameters
    ----------
    images : array (N, H, W) or (N, 1, H, W)
    y_true, y_pred : int arrays (N,)
    path : where to write the PNG (written, with a note, even when nothing is misclassified)
    max_images : at most this many are drawn, the first ones in order
    """
    images = images.reshape(images.shape[0], *images.shape[-2:])
    wrong = np.flatnonzero(y_true != y_pred)
    shown = wrong[:max_images]
    cols = max(1, min(6, len(shown)))
    rows = max(1, -(-len(shown) // cols))
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols + 0.4, 1.7 * rows + 0.6),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, k in zip(axes.flat, shown, strict=False):
        ax.imshow(images[k], cmap="gray_r", interpolation="nearest")
        ax.set_title(f"{y_true[k]}\u2192{y_pred[k]}", fontsize=10)
    if not len(wrong):
        axes[0, 0].text(0.5, 0.5, "no misclassified\nimages", ha="center", va="center")
    fig.suptitle(title or f"misclassified: {len(wrong)} (true\u2192predicted)"
                 + (f", first {len(shown)} shown" if len(shown) < len(wrong) else ""),
                 fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=100)
    plt.close(fig)
    return len(wrong)


def benchmark_chart(rows: list[dict], path: str | Path) -> None:
    """Grouped horizontal bars (log scale): one panel row per workload, one bar per backend."""
    plt = _pyplot()
    rows = [r for r in rows if "peak_extra_MiB" not in r["info"]]  # memory, not time
    workloads = [w for w in dict.fromkeys(r["workload"] for r in rows)
                 if w not in ("yardstick", "gemm-peak")]
    if not workloads:
        workloads = list(dict.fromkeys(r["workload"] for r in rows))
    heights = [len([r for r in rows if r["workload"] == w]) for w in workloads]
    fig, axes = plt.subplots(len(workloads), 1, figsize=(9, 1.2 + 0.38 * sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    palette = {"reference": "#999999", "numpy": "#1f77b4", "numba": "#2ca02c"}
    for ax, w in zip(axes[:, 0], workloads, strict=True):
        group = sorted((r for r in rows if r["workload"] == w),
                       key=lambda r: (r["dtype"], -r["median"]))
        labels = [f"{r['label']} {r['dtype']}" for r in group]
        colors = [palette.get(r["backend"].split("-")[0],
                              "#d62728" if r["backend"].startswith("pytorch") else "#9467bd")
                  for r in group]
        values = [r["median"] * 1e3 for r in group]
        ax.barh(range(len(group)), values, color=colors)
        ax.set_yticks(range(len(group)), labels, fontsize=8)
        ax.set_xscale("log")
        ax.set_title(w, fontsize=10, loc="left")
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.3g} ms", va="center", fontsize=7)
        ax.grid(True, axis="x", which="both", alpha=0.3)
    axes[-1, 0].set_xlabel("median time per call, ms (log scale; shorter is faster)")
    fig.tight_layout()
    _save(fig, path, dpi=100)
    plt.close(fig)


def prediction_grid(panels, path: str | Path, title: str = "") -> None:
    """Ground truth, then each run's predicted classes, for 2-D inputs (red 0, blue 1).

    ``panels`` is a list of (label, result) with result holding ``X``, ``y`` and ``pred``.
    """
    plt = _pyplot()
    n = len(panels) + 1
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), sharex=True, sharey=True,
                             squeeze=False)
    X, y = panels[0][1]["X"], panels[0][1]["y"]
    items = [("ground truth", y[:, 0] > 0.5)]
    items += [(label, r["pred"][:, 0] > 0.5) for label, r in panels]
    for ax, (label, cls) in zip(axes[0], items, strict=True):
        ax.scatter(X[~cls, 0], X[~cls, 1], c="red", s=10)
        ax.scatter(X[cls, 0], X[cls, 1], c="blue", s=10)
        ax.set_title(label, fontsize=9)
        ax.set_aspect("equal", adjustable="box")
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=90)
    plt.close(fig)


#: A sweep figure shows at most this many runs (the first ones; sweep.csv has them all).
MAX_SWEEP_RUNS = 150


def sweep_summary(labels: Sequence[str], losses: Sequence[float | None],
                  accuracies: Sequence[float | None], notes: Sequence[str], path: str | Path,
                  acc_title: str = "accuracy", acc_marks: Sequence[str] | None = None) -> None:
    """One bar per run of a sweep: its final loss and its accuracy (``acc_marks`` are appended
    to each value); a run without numbers (diverged, failed) shows its note instead."""
    plt = _pyplot()
    n = min(len(labels), MAX_SWEEP_RUNS)
    marks = list(acc_marks or [""] * n)
    width = 7 + 0.065 * max(len(label) for label in labels[:n])
    fig, axes = plt.subplots(1, 2, figsize=(width, 1.4 + 0.28 * n), sharey=True,
                             squeeze=False, gridspec_kw={"width_ratios": [3, 2]},
                             layout="constrained")
    try:
        ys = np.arange(n)[::-1]
        loss_ax, acc_ax = axes[0]
        known = [v for v in losses[:n] if v is not None and v > 0]
        log = bool(known) and max(known) / min(known) > 10
        panels = ((loss_ax, losses, "{:.3g}", [""] * n), (acc_ax, accuracies, "{:.1%}", marks))
        for ax, values, fmt, tags in panels:
            for y, v, note, tag in zip(ys, values[:n], notes[:n], tags[:n], strict=True):
                if v is None:
                    ax.text(0.01, y, f" {note or 'no value'}", va="center", fontsize=7,
                            color="#d62728", transform=ax.get_yaxis_transform())
                    continue
                ax.barh(y, v, color="#1f77b4" if ax is loss_ax else "#2ca02c")
                ax.text(v, y, " " + fmt.format(v) + tag, va="center", fontsize=7)
            ax.grid(True, axis="x", which="both", alpha=0.3)
        if log:
            loss_ax.set_xscale("log")
        acc_ax.set_xlim(0, 1.2)
        loss_ax.set_yticks(ys, labels[:n], fontsize=7)
        loss_ax.set_title("final training loss" + (" (log scale)" if log else ""), fontsize=10)
        acc_ax.set_title(acc_title, fontsize=10)
        more = f" (first {n} of {len(labels)})" if len(labels) > n else ""
        fig.suptitle(f"fastnn sweep: {len(labels)} runs{more}", fontsize=11)
        _save(fig, path, dpi=90)
    finally:
        plt.close(fig)
