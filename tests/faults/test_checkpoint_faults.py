"""Class 4: checkpoint entries of the wrong type, shape or range are one line and exit 2 in
both ``fastnn predict`` and ``fastnn train --resume``: never a traceback, never a wrong answer.

Each case rewrites one entry of a real checkpoint (with NumPy, not fastnn's writer) and runs
both commands in this process. A hypothesis test then applies random mutations (dropped
entries, other dtypes and shapes, random JSON, flipped bytes, truncation) and accepts only a
clean result or fastnn's own one-line error.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn.io import checkpoint

from ._ckpt import copy_run, jget, js, read, train_file_run, write
from .conftest import assert_clean, assert_error, assert_no_temp, cli


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """One finished run on a CSV (every kind of entry), and predict's output for it."""
    root = tmp_path_factory.mktemp("ckpt")
    out, csv = train_file_run(root)
    return out, csv, read(out / "model.npz")


@pytest.fixture(scope="module")
def expected(base, tmp_path_factory):
    """predict's stdout for the undamaged checkpoint."""
    from fastnn.app.cli import main

    out, csv, _ = base
    dst = tmp_path_factory.mktemp("expected") / "p.csv"
    assert main(["predict", "--model", str(out / "model.npz"), "--data", str(csv),
                 "--out", str(dst)]) == 0
    return dst.read_text()


def _set(name, value):
    def mutate(a):
        a[name] = value(a) if callable(value) else value
    return mutate


def _drop(name):
    def mutate(a):
        del a[name]
    return mutate


def _json_edit(entry, edit):
    """Rewrite the JSON entry ``entry`` by ``edit(obj)``, which changes it in place."""
    def mutate(a):
        obj = jget(a, entry)
        edit(obj)
        a[entry] = js(obj)
    return mutate


def _json_replace(entry, new):
    """Replace the JSON entry ``entry`` by ``new(obj)``."""
    def mutate(a):
        a[entry] = js(new(jget(a, entry)))
    return mutate


def _pop(*path):
    def edit(obj):
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]
    return edit


def _nested(*path_and_value):
    *path, value = path_and_value

    def edit(obj):
        target = obj
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _poke(name, index, value):
    def mutate(a):
        arr = a[name].copy()
        arr[index] = value
        a[name] = arr
    return mutate


SLOT = "opt.m"  # one of Adam's two state slots

# (id, mutation, needle of the error) -- both commands must refuse with exit 2
BOTH = [
    ("params-0d", _set("params", np.array(1.0)), "params is a float64 array of shape ()"),
    ("params-2d", _set("params", lambda a: a["params"].reshape(1, -1)), "params"),
    ("params-float32", _set("params", lambda a: a["params"].astype(np.float32)), "params"),
    ("params-int", _set("params", lambda a: a["params"].astype(np.int64)), "params"),
    ("params-short", _set("params", lambda a: a["params"][:-1]), "parameters"),
    ("params-long", _set("params", lambda a: np.r_[a["params"], 0.0]), "parameters"),
    ("params-str", _set("params", np.array(["1.0", "2.0"])), "params"),
    ("params-nan", _poke("params", 3, np.nan), "params holds NaN or inf (first at index (3,))"),
    ("params-inf", _poke("params", 0, -np.inf), "NaN or inf"),
    ("params-missing", _drop("params"), "lacks params"),
    ("params-pickled", _set("params", np.array([1.0, None], dtype=object)), "Python objects"),
    ("config-list", _set("config", js([1, 2])), "config must be a JSON object, got list"),
    ("config-str", _set("config", js("Dense")), "config must be a JSON object, got str"),
    ("config-bad-json", _set("config", np.array("{'layers': ")), "config is not valid JSON"),
    ("config-nan-token", _set("config", np.array('{"layers": NaN}')), "not valid JSON"),
    ("config-bytes", _set("config", lambda a: np.array(str(a["config"]).encode())),
     "config must be JSON text"),
    ("config-1d", _set("config", lambda a: np.array([str(a["config"])])), "JSON text"),
    ("config-no-layers", _json_edit("config", _pop("layers")), "lacks layers"),
    ("config-extra-key", _json_edit("config", _nested("init", "he")), "unknown init"),
    ("config-layers-dict", _json_edit("config", _nested("layers", {"type": "Dense"})),
     "layers must be a non-empty list"),
    ("config-layers-empty", _json_edit("config", _nested("layers", [])), "non-empty list"),
    ("config-layer-list", _json_edit("config", _nested("layers", 0, [2, 4])), "layer 0"),
    ("config-layer-type", _json_edit("config", _nested("layers", 0, "type", "Dense2")),
     "unknown layer type 'Dense2'"),
    ("config-layer-no-type", _json_edit("config", _pop("layers", 0, "type")),
     "unknown layer type None"),
    ("config-layer-extra-arg", _json_edit("config", _nested("layers", 0, "units", 4)),
     "layer 0"),
    ("config-bias-str", _json_edit("config", _nested("layers", 0, "bias", "no")),
     "layer 0: bias must be true or false, got 'no'"),
    ("config-bias-off", _json_edit("config", _nested("layers", 0, "bias", False)),
     "parameters, but params is"),
    ("config-layer-missing-arg", _json_edit("config", _pop("layers", 0, "dout")),
     "layer 0"),
    ("config-din-str", _json_edit("config", _nested("layers", 0, "din", "3")), "layer 0"),
    ("config-din-float", _json_edit("config", _nested("layers", 0, "din", 3.0)), "layer 0"),
    ("config-din-zero", _json_edit("config", _nested("layers", 0, "din", 0)), "layer 0"),
    ("config-din-bool", _json_edit("config", _nested("layers", 0, "din", True)), "layer 0"),
    ("config-activation-int", _json_edit("config", _nested("layers", 1, "name", 3)),
     "layer 1"),
    ("config-chain-broken", _json_edit("config", _nested("layers", 2, "din", 5)),
     "does not fit"),
    ("config-input-zero", _json_edit("config", _nested("input_shape", [0])), "input_shape"),
    ("config-input-str", _json_edit("config", _nested("input_shape", "3")), "input_shape"),
    ("config-input-neg", _json_edit("config", _nested("input_shape", [-3])), "input_shape"),
    ("config-dtype", _json_edit("config", _nested("dtype", "int8")), "dtype must be"),
    ("config-dtype-float32", _json_edit("config", _nested("dtype", "float32")), "params"),
    ("config-huge", _json_replace("config", lambda c: {**c, "input_shape": [10**6], "layers": [
        {"type": "Dense", "din": 10**6, "dout": 10**6}]}),
     "its architecture has 1,000,001,000,000 float64 parameters"),
    ("config-missing", _drop("config"), "lacks config"),
    ("version-missing", _drop("format_version"), "lacks format_version"),
    ("version-float", _set("format_version", np.array(2.0)), "format_version must be an int"),
    ("version-str", _set("format_version", np.array("2")), "format_version"),
    ("version-99", _set("format_version", np.array(99)), "format version 99"),
    ("version-1d", _set("format_version", np.array([2])), "format_version"),
    ("epoch-negative", _set("epoch", np.array(-1)), "epoch must be an integer in [0"),
    ("epoch-float", _set("epoch", np.array(5.5)), "epoch must be an integer"),
    ("epoch-bool", _set("epoch", np.array(True)), "epoch must be an integer"),
    ("epoch-1d", _set("epoch", np.array([5])), "epoch"),
    ("epoch-missing", _drop("epoch"), "lacks epoch"),
    ("epoch-before-history", _set("epoch", np.array(2)), "the history has 5 epochs"),
    ("meta-list", _set("meta", js(["spec"])), "meta must be a JSON object, got list"),
    ("meta-spec-list", _json_edit("meta", _nested("spec", [1])), "spec must be a JSON object"),
    ("meta-spec-str", _json_edit("meta", _nested("spec", "xor")), "spec must be a JSON"),
    ("meta-missing", _drop("meta"), "lacks meta"),
    ("meta-nan-token", _set("meta", lambda a: np.array(
        str(a["meta"]).replace('"lr": 0.01', '"lr": NaN'))), "meta is not valid JSON"),
    ("optimizer-missing", _drop("optimizer"), "come together"),
    ("trainer-missing", _drop("trainer"), "come together"),
    ("optimizer-list", _set("optimizer", js(["adam"])), "optimizer must be a JSON object"),
    ("optimizer-no-t", _json_edit("optimizer", _pop("t")), "optimizer lacks t"),
    ("optimizer-t-negative", _json_edit("optimizer", _nested("t", -1)), "step count"),
    ("optimizer-t-str", _json_edit("optimizer", _nested("t", "5")), "step count"),
    ("optimizer-t-float", _json_edit("optimizer", _nested("t", 5.0)), "step count"),
    ("optimizer-name-int", _json_edit("optimizer", _nested("name", 3)), "optimizer must"),
    ("optimizer-hyper-list", _json_edit("optimizer", _nested("hyperparams", [0.01])),
     "optimizer must"),
    ("optimizer-lr-str", _json_edit("optimizer", _nested("hyperparams", "lr", "0.01")),
     "optimizer must"),
    ("optimizer-lr-nan", _set("optimizer", lambda a: np.array(
        str(a["optimizer"]).replace('"lr": 0.01', '"lr": NaN'))), "not valid JSON"),
    ("trainer-str", _set("trainer", js("adam")), "trainer must be a JSON object, got str"),
    ("trainer-no-rng", _json_edit("trainer", _pop("rng")), "trainer lacks rng"),
    ("rng-str", _json_edit("trainer", _nested("rng", "PCG64")), "rng is not a PCG64"),
    ("rng-mt", _json_edit("trainer", _nested("rng", "bit_generator", "MT19937")), "PCG64"),
    ("rng-no-inc", _json_edit("trainer", _pop("rng", "state", "inc")), "PCG64"),
    ("rng-negative", _json_edit("trainer", _nested("rng", "state", "state", -1)), "PCG64"),
    ("rng-huge", _json_edit("trainer", _nested("rng", "state", "inc", 2**130)), "PCG64"),
    ("rng-float", _json_edit("trainer", _nested("rng", "state", "state", 1.5)), "PCG64"),
    ("rng-has-uint32", _json_edit("trainer", _nested("rng", "has_uint32", 7)), "PCG64"),
    ("rng-uinteger-str", _json_edit("trainer", _nested("rng", "uinteger", "0")), "PCG64"),
    ("trainer-loss-int", _json_edit("trainer", _nested("loss", 1)), "loss must be a name"),
    ("trainer-clip-str", _json_edit("trainer", _nested("clip", "1")), "clip must be"),
    ("trainer-clip-reversed", _json_edit("trainer", _nested("clip", [1, -1])), "clip must"),
    ("trainer-seed-negative", _json_edit("trainer", _nested("seed", -2)), "seed must be"),
    ("trainer-seed-str", _json_edit("trainer", _nested("seed", "2")), "seed must be"),
    ("slot-shape", _set(SLOT, lambda a: a[SLOT][:-1]), SLOT),
    ("slot-0d", _set(SLOT, np.array(0.0)), SLOT),
    ("slot-float32", _set(SLOT, lambda a: a[SLOT].astype(np.float32)), SLOT),
    ("slot-nan", _poke(SLOT, 0, np.nan), f"{SLOT} holds NaN or inf"),
    ("slot-without-optimizer", lambda a: [a.pop("optimizer"), a.pop("trainer")],
     "come together"),
    ("history-uneven", _set("history.accuracy", lambda a: a["history.accuracy"][:-1]),
     "history.loss has 5 epochs but history.accuracy 4"),
    ("history-val-uneven", _set("history.val_loss", lambda a: a["history.val_loss"][:-1]),
     "history.val_loss"),
    ("history-val-longer", lambda a: a.update({
        "history.val_loss": np.r_[a["history.val_loss"], 0.5],
        "history.val_accuracy": np.r_[a["history.val_accuracy"], 0.5]}), "of validation"),
    ("history-nan", _poke("history.loss", 1, np.nan), "history.loss holds NaN"),
    ("history-accuracy-2", _poke("history.accuracy", 0, 2.0), "outside [0, 1]"),
    ("history-2d", _set("history.loss", lambda a: a["history.loss"].reshape(1, -1)),
     "history.loss must be a float array of shape (N,)"),
    ("history-str", _set("history.loss", np.array(["0.5"] * 5)), "history.loss"),
    ("history-unknown", _set("history.lr", np.ones(5)), "unknown entry 'history.lr'"),
    ("norm-mean-shape", _set("norm.mean", np.zeros(4)), "norm.mean must be a float array of"),
    ("norm-mean-0d", _set("norm.mean", np.array(0.0)), "norm.mean"),
    ("norm-mean-nan", _poke("norm.mean", 1, np.nan), "norm.mean holds NaN"),
    ("norm-std-zero", _poke("norm.std", 0, 0.0), "norm.std holds a value <= 0"),
    ("norm-std-negative", _poke("norm.std", 2, -1.0), "norm.std holds a value <= 0"),
    ("norm-std-inf", _poke("norm.std", 2, np.inf), "norm.std holds NaN or inf"),
    ("norm-std-missing", _drop("norm.std"), "come together"),
    ("norm-mean-int", _set("norm.mean", np.zeros(3, dtype=np.int64)), "norm.mean"),
    ("classes-str", _set("classes", np.array(["3", "7"])), "classes must be a float array"),
    ("classes-three", _set("classes", np.array([3.0, 5.0, 7.0])), "classes"),
    ("classes-0d", _set("classes", np.array(3.0)), "classes"),
    ("classes-unsorted", _set("classes", np.array([7.0, 3.0])), "increasing order"),
    ("classes-equal", _set("classes", np.array([3.0, 3.0])), "distinct"),
    ("classes-nan", _set("classes", np.array([3.0, np.nan])), "classes holds NaN"),
    ("unknown-entry", _set("evil", np.zeros(2)), "unknown entry 'evil'"),
]

# refused by --resume (it needs what they break); predict gives the undamaged answer
RESUME_ONLY = [
    ("slot-missing", _drop(SLOT), "optimizer state has"),
    ("slot-extra", _set("opt.momentum", lambda a: a[SLOT]), "optimizer state has"),
    ("optimizer-other", _json_edit("optimizer", _nested("name", "rmsprop")), "trained with"),
    ("optimizer-lr-other", _json_edit("optimizer", _nested("hyperparams", "lr", 0.5)),
     "trained with"),
    ("optimizer-hyper-missing", _json_edit("optimizer", _pop("hyperparams", "eps")),
     "trained with"),
    ("trainer-clip-other", _json_edit("trainer", _nested("clip", [-1, 1])), "gradient clip"),
    ("spec-hidden", _json_edit("meta", _nested("spec", "hidden", "abc")), "hidden"),
    ("spec-hidden-other", _json_edit("meta", _nested("spec", "hidden", [5])),
     "architecture differs"),
    ("spec-epochs-str", _json_edit("meta", _nested("spec", "epochs", "x")), "epochs"),
    ("spec-unknown-key", _json_edit("meta", _nested("spec", "colour", 1)), "unknown keys"),
    ("spec-data-gone", _json_edit("meta", _nested("spec", "data", "/nonexistent/d.csv")),
     "no such file"),
    ("spec-missing", _json_edit("meta", _pop("spec")), "holds no run settings"),
]

# predict reads the loss by name: an unknown one is refused by both
LOSS = [("trainer-loss-unknown", _json_edit("trainer", _nested("loss", "hinge")), "hinge")]


def _damaged(base, tmp_path, mutate):
    out, _, arrays = base
    run = copy_run(out, tmp_path / "run")
    arrays = dict(arrays)
    mutate(arrays)
    write(run / "model.npz", arrays)
    return run


def _predict(run, csv, capsys):
    return cli(["predict", "--model", run / "model.npz", "--data", csv], capsys)


def _resume(run, capsys):
    return cli(["train", "--resume", run, "--epochs", "7", "--quiet"], capsys)


@pytest.mark.parametrize("mutate, needle", [c[1:] for c in BOTH + LOSS],
                         ids=[c[0] for c in BOTH + LOSS])
def test_a_bad_entry_is_one_line_in_predict_and_resume(base, tmp_path, capsys, mutate, needle):
    run = _damaged(base, tmp_path, mutate)
    before = (run / "model.npz").read_bytes()
    assert_error(_predict(run, base[1], capsys), 2, needle)
    assert_error(_resume(run, capsys), 2, needle)
    assert (run / "model.npz").read_bytes() == before  # the refused run wrote nothing
    assert_no_temp(run)


@pytest.mark.parametrize("mutate, needle", [c[1:] for c in RESUME_ONLY],
                         ids=[c[0] for c in RESUME_ONLY])
def test_what_resume_needs_is_checked_against_the_trainer(base, tmp_path, capsys, expected,
                                                          mutate, needle):
    run = _damaged(base, tmp_path, mutate)
    before = (run / "model.npz").read_bytes()
    result = _predict(run, base[1], capsys)
    assert result.code == 0 and result.out == expected, result.err
    assert_error(_resume(run, capsys), 2, needle)
    assert (run / "model.npz").read_bytes() == before
    assert_no_temp(run)


def test_the_undamaged_run_predicts_and_resumes(base, tmp_path, capsys, expected):
    run = _damaged(base, tmp_path, lambda a: None)
    result = _predict(run, base[1], capsys)
    assert result.code == 0 and result.out == expected
    assert _resume(run, capsys).code == 0
    assert checkpoint.load(run / "model.npz").epoch == 7


def _text_npz(p):
    p.write_text("row,prediction\n0,1\n")


def _zip_of_text(p):
    import zipfile
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("config.npy", "hello")


def _truncate(n):
    return lambda p: p.write_bytes(p.read_bytes()[:n])


def _flip_in(member):
    """Flip a byte in the middle of ``member``'s data (its CRC-32 no longer matches)."""
    def damage(p):
        import struct
        import zipfile
        with zipfile.ZipFile(p) as z:
            info = z.getinfo(member)
        b = bytearray(p.read_bytes())
        name_len, extra_len = struct.unpack("<HH", b[info.header_offset + 26:
                                                    info.header_offset + 30])
        start = info.header_offset + 30 + name_len + extra_len
        b[start + info.compress_size - 8] ^= 0xFF  # inside the last stored value
        p.write_bytes(bytes(b))
    return damage


def _into_dir(p):
    p.unlink()
    p.mkdir()


def _fifo(p):
    p.unlink()
    os.mkfifo(p)


def _loop(p):
    p.unlink()
    p.symlink_to(p)


def _forged_header(p):
    from ._ckpt import forged_npy, zip64
    zip64(p, {"format_version.npy": forged_npy((10**12,), "<i8")})


WHOLE_FILE = [
    ("text-named-npz", _text_npz, "not a NumPy .npz archive"),
    ("empty", lambda p: p.write_bytes(b""), "not a NumPy .npz archive"),
    ("zip-of-text", _zip_of_text, "not a readable fastnn checkpoint"),
    ("truncated-half", lambda p: _truncate(len(p.read_bytes()) // 2)(p), "not a readable"),
    ("truncated-100", _truncate(100), "not a readable"),
    ("flipped-params-byte", _flip_in("params.npy"), "Bad CRC-32"),
    ("flipped-history-byte", _flip_in("history.loss.npy"), "Bad CRC-32"),
    ("flipped-meta-byte", _flip_in("meta.npy"), "Bad CRC-32"),
    ("folder", _into_dir, "is a folder"),
    ("fifo", _fifo, "not a regular file"),
    ("symlink-loop", _loop, "model.npz"),
    ("forged-npy-header", _forged_header, "declares (1000000000000,) int64"),
]


@pytest.mark.parametrize("damage, needle", [c[1:] for c in WHOLE_FILE],
                         ids=[c[0] for c in WHOLE_FILE])
def test_a_damaged_file_is_one_line(base, tmp_path, capsys, damage, needle):
    run = copy_run(base[0], tmp_path / "run")
    damage(run / "model.npz")
    for result in (_predict(run, base[1], capsys), _resume(run, capsys)):
        line = assert_error(result, 2, needle)
        assert "pickle" not in line
    assert_no_temp(run)


# -- random mutations ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) |
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=10)
DTYPES = ["float64", "float32", "int64", "uint8", "bool", "U3", "complex128"]


@st.composite
def mutations(draw, names):
    """(description, function arrays -> arrays or raw bytes -> bytes, touches_predict)."""
    kind = draw(st.sampled_from(["drop", "dtype", "shape", "json", "json-member", "array",
                                 "flip", "truncate", "noop"]))
    name = draw(st.sampled_from(names))
    if kind == "drop":
        return f"drop {name}", lambda a: {k: v for k, v in a.items() if k != name}, None
    if kind == "dtype":
        dtype = draw(st.sampled_from(DTYPES))

        def astype(a):
            try:
                return {**a, name: a[name].astype(dtype)}
            except (ValueError, TypeError):
                return {**a, name: np.zeros(a[name].shape, dtype)}
        return f"{name} as {dtype}", astype, None
    if kind == "shape":
        how = draw(st.sampled_from(["0d", "2d", "shorter", "longer", "empty"]))

        def reshape(a):
            v = np.atleast_1d(a[name])
            new = {"0d": v.reshape(-1)[:1].reshape(()), "2d": v.reshape(1, -1),
                   "shorter": v.reshape(-1)[:-1], "longer": np.r_[v.reshape(-1), v.reshape(-1)],
                   "empty": v.reshape(-1)[:0]}[how]
            return {**a, name: new}
        return f"{name} {how}", reshape, None
    if kind == "json":
        value = draw(json_values)
        return f"{name} = {value!r}", lambda a: {**a, name: js(value)}, None
    if kind == "json-member":
        entry = draw(st.sampled_from(["config", "optimizer", "trainer", "meta"]))
        path = draw(st.lists(st.sampled_from(["layers", 0, 1, "din", "dout", "name", "type",
                                              "input_shape", "dtype", "hyperparams", "lr", "t",
                                              "rng", "state", "inc", "loss", "clip", "seed",
                                              "spec", "hidden", "data", "optimizer"]),
                             min_size=1, max_size=3))
        value = draw(json_values)

        def edit(a):
            obj = jget(a, entry)
            target = obj
            for key in path[:-1]:
                try:
                    target = target[key]
                except (KeyError, IndexError, TypeError):
                    break
            try:
                target[path[-1]] = value
            except (IndexError, TypeError):
                pass
            return {**a, entry: js(obj)}
        return f"{entry}{path} = {value!r}", edit, None
    if kind == "array":
        dtype = draw(st.sampled_from(["float64", "int64"]))
        values = draw(st.lists(st.floats(-1e6, 1e6) if dtype == "float64"
                               else st.integers(-5, 10**6), max_size=6))
        arr = np.array(values, dtype=dtype)
        if draw(st.booleans()) and len(values):
            arr = arr[0]
        return f"{name} = {arr!r}", lambda a: {**a, name: arr}, None
    if kind == "flip":
        where, bit = draw(st.floats(0, 1, exclude_max=True)), draw(st.integers(0, 7))

        def flip(raw):
            b = bytearray(raw)
            b[int(where * len(b))] ^= 1 << bit
            return bytes(b)
        return f"flip bit {bit} at {where:.3f}", None, flip
    if kind == "truncate":
        where = draw(st.floats(0, 1, exclude_max=True))
        return f"truncate at {where:.3f}", None, lambda raw: raw[:int(where * len(raw))]
    return "no change", lambda a: a, None


# entries whose change may change predict's answer (then it is checked for shape only)
PREDICT_INPUTS = {"config", "params", "norm.mean", "norm.std", "classes", "trainer"}


@pytest.mark.slow
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_random_mutations_end_clean_or_in_one_line(base, tmp_path, capsys, expected, data):
    out, csv, arrays = base
    what, on_arrays, on_bytes = data.draw(mutations(sorted(arrays)), label="mutation")
    run = tmp_path / "h"
    shutil.rmtree(run, ignore_errors=True)
    copy_run(out, run)
    if on_arrays is not None:
        write(run / "model.npz", on_arrays(dict(arrays)))
    else:
        p = run / "model.npz"
        p.write_bytes(on_bytes(p.read_bytes()))
    result = _predict(run, csv, capsys)
    assert_clean(result)
    assert result.code in (0, 2), (what, result.err)
    if result.code == 0:
        rows = result.out.splitlines()
        assert len(rows) == 41 and rows[0].startswith("row,prediction,p0")
        values = np.array([[float(v) for v in r.split(",")] for r in rows[1:]])
        assert np.isfinite(values).all()
        touched = {k for k in arrays if what.startswith(k)}
        if on_bytes is None and not touched & PREDICT_INPUTS:
            assert result.out == expected, what
    result = _resume(run, capsys)
    assert_clean(result)
    assert result.code in (0, 2), (what, result.err)
    if result.code == 0:
        assert checkpoint.load(run / "model.npz").epoch == 7
    assert_no_temp(run)


def test_a_few_mutations_in_the_fast_suite(base, tmp_path, capsys, expected):
    """Three fixed mutations of the kinds hypothesis draws: a flipped byte in the central
    directory, a random JSON member, a dropped entry."""
    out, csv, arrays = base
    for i, mutate in enumerate([
            lambda a: {**a, "trainer": js({"": [None, 1.5]})},
            lambda a: {k: v for k, v in a.items() if k != "history.val_accuracy"},
            lambda a: {**a, "config": js(json.loads(str(a["config"])) | {"dtype": None})}]):
        run = copy_run(out, tmp_path / f"r{i}")
        write(run / "model.npz", mutate(dict(arrays)))
        assert_error(_predict(run, csv, capsys), 2)
        assert_error(_resume(run, capsys), 2)
