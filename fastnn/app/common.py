"""What the commands share: the usage error, the output-folder check, label values."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..nn.losses import THRESHOLD


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


def prepare_out_dir(out: Path) -> list[Path]:
    """Create ``out`` and prove a file can be written there, or raise UsageError.

    Returns the folders this call created (deepest last), so a failed run can remove them.
    """
    created = [p for p in (out, *out.parents) if not p.exists()][::-1]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fastnn-write-test-"):
            pass
    except OSError as e:
        remove_empty(created)
        reason = "it is not a folder" if isinstance(e, FileExistsError) else e.strerror or e
        raise UsageError(f"cannot write to --out {str(out)!r}: {reason}") from None
    return created


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest last) while they are empty."""
    for p in reversed(folders):
        try:
            p.rmdir()
        except OSError:
            return


def class_labels(outputs: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """Class values from (N, 1) probabilities or (N, K) scores/one-hot rows."""
    index = (outputs[:, 0] > THRESHOLD).astype(int) if outputs.shape[1] == 1 \
        else outputs.argmax(axis=1)
    return index.astype(float) if classes is None else classes[index]
