"""Argument checks shared by the library and the CLI: one message format everywhere."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def check_choice(kind: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ValueError listing them."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose from: {', '.join(choices)}")
    return value


def check_positive(kind: str, value: object, integer: bool = False) -> float | int:
    """Return ``value`` if it is a finite number > 0 (an int when ``integer``), else raise."""
    ok_type = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        want = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{kind} must be {want}, got {value!r}")
    # np.isfinite raises TypeError on an int beyond int64 (10**23); an int is finite anyway
    finite = isinstance(value, (int, np.integer)) or math.isfinite(value)
    if not finite or value <= 0:
        want = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{kind} must be {want}, got {value!r}")
    return value


def check_in_range(kind: str, value: object, lo: float, hi: float, integer: bool = False,
                   lo_open: bool = False, hi_open: bool = False) -> float | int:
    """Return ``value`` if it is a number (an int when ``integer``) between ``lo`` and ``hi``.

    Parameters
    ----------
    kind : str
        What the value is, for the message.
    value : object
        The candidate; bools, NaN and inf are never in range.
    lo, hi : number
        The bounds, inclusive unless ``lo_open`` / ``hi_open``.
    integer : bool
        Require an int (a float such as 3.0 is refused, not rounded).

    Raises
    ------
    ValueError
        ``"{kind} must be an integer in [lo, hi], got value"`` (or ``a number in (lo, hi)``).
    """
    ok_type = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = not isinstance(value, bool) and isinstance(value, ok_type)
    # math.isfinite would overflow on a huge int, and an int is finite anyway
    if ok and not isinstance(value, (int, np.integer)):
        ok = math.isfinite(value)
    if ok:
        ok = (lo < value if lo_open else lo <= value) and (value < hi if hi_open else value <= hi)
    if not ok:
        def fmt(bound):
            return str(bound) if isinstance(bound, int) else f"{bound:g}"
        span = f"{'(' if lo_open else '['}{fmt(lo)}, {fmt(hi)}{')' if hi_open else ']'}"
        raise ValueError(f"{kind} must be {'an integer' if integer else 'a number'} in {span}, "
                         f"got {value!r}")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_))


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range
        return False


def check_clip(clip: object, kind: str = "clip") -> tuple[float, float] | None:
    """Gradient clipping bounds as ``(lo, hi)`` floats, or None for None.

    ``clip`` is a number C > 0, meaning [-C, C], or a pair (lo, hi) with lo < 0 < hi: a range
    that leaves out 0 would push every gradient one way, and the weights could only drift.
    Python and NumPy numbers alike; ValueError naming ``kind`` otherwise.
    """
    if clip is None:
        return None
    if _is_number(clip):
        pair = (-clip, clip)
    elif isinstance(clip, (tuple, list, np.ndarray)) and np.ndim(clip) == 1 and len(clip) == 2:
        pair = tuple(clip)
    else:
        pair = ()
    if len(pair) != 2 or not all(_is_number(v) and _finite(v) for v in pair) \
            or not pair[0] < 0 < pair[1]:
        shown = list(clip) if isinstance(clip, (tuple, list)) else clip
        raise ValueError(f"{kind} must be a positive number C (clip to [-C, C]) or a pair "
                         f"LO < 0 < HI of finite numbers, got {shown!r}")
    return float(pair[0]), float(pair[1])


def check_dtype(dtype: object) -> np.dtype:
    """Return ``dtype`` as a NumPy float dtype (float64 or float32), else raise ValueError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from: float64, float32")
    return dt


def read_json_object(path, what: str) -> dict:
    """Read a JSON object from ``path``; ValueError naming ``what`` and the path otherwise."""
    import json
    from pathlib import Path

    try:
        raw = json.loads(Path(path).read_text())
    except OSError as e:
        raise ValueError(f"cannot read {what} {str(path)!r}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} {str(path)!r} is not valid JSON: {e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} {str(path)!r} is not UTF-8 text") from None
    except (ValueError, RecursionError) as e:  # a 5000-digit number, 100000 nested brackets
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e).split(";")[0]
        raise ValueError(f"{what} {str(path)!r} is not JSON fastnn can read: {reason}") \
            from None
    if not isinstance(raw, dict):
        raise ValueError(f"{what} {str(path)!r} must hold a JSON object")
    return raw


def check_finite(name: str, a: np.ndarray) -> None:
    """Raise ValueError if ``a`` holds NaN or inf, naming the first bad index."""
    if not np.isfinite(a).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{name} contains NaN or inf (first at index {bad})")


def conv_output_size(size: int, k: int, stride: int, padding: int) -> int:
    """Output length of a window of ``k`` sliding by ``stride`` over ``size + 2 padding``.

    Raises ValueError when the window does not fit (the output would be empty).
    """
    out = (size + 2 * padding - k) // stride + 1
    if out <= 0 or size + 2 * padding < k:
        raise ValueError(f"kernel size {k} is larger than the padded input size "
                         f"{size} + 2*{padding} = {size + 2 * padding}")
    return out
