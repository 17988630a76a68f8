"""Value checks of fastnn.io.checkpoint and fastnn.io.datafiles, written against mutmut's
survivors (issue 16).

Checkpoints are written here by NumPy (``np.savez``, hand-built ``.npy`` members), never by the
code under test, and every refusal is checked by its whole message; a checkpoint that loads is
checked entry by entry. Data files are small texts and arrays whose parsed values are written
out by hand.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from fastnn import memory
from fastnn.io import checkpoint, datafiles
from fastnn.io.checkpoint import CheckpointError
from fastnn.io.datafiles import DataFileError, Standardizer
from fastnn.nn.model import MLP

MAX = 2**63 - 1

# -- a checkpoint, by hand -------------------------------------------------------------------------

LAYERS = [{"type": "Dense", "din": 2, "dout": 3}, {"type": "Activation", "name": "tanh"},
          {"type": "Dense", "din": 3, "dout": 1}, {"type": "Activation", "name": "sigmoid"}]
CONFIG = {"layers": LAYERS, "input_shape": [2], "dtype": "float64"}
N_PARAMS = 2 * 3 + 3 + 3 * 1 + 1  # 13
RNG_STATE = np.random.default_rng(5).bit_generator.state


def js(obj) -> np.ndarray:
    return np.array(json.dumps(obj))


def base_arrays() -> dict[str, np.ndarray]:
    """Every kind of entry: a 2-3-1 network, Adam's state, history, standardisation, classes."""
    return {
        "format_version": np.array(2),
        "config": js(CONFIG),
        "params": np.arange(N_PARAMS) / 10.0,
        "epoch": np.array(4),
        "meta": js({"spec": {"hidden": [3]}}),
        "optimizer": js({"name": "adam", "hyperparams": {"lr": 0.01, "beta1": 0.9}, "t": 3}),
        "trainer": js({"loss": "bce", "clip": None, "seed": 5, "rng": RNG_STATE}),
        "opt.m": np.full(N_PARAMS, 0.5),
        "opt.v": np.full(N_PARAMS, 0.25),
        "history.loss": np.array([0.9, 0.8, 0.7, 0.6]),
        "history.accuracy": np.array([0.5, 0.5, 0.75, 1.0]),
        "history.val_loss": np.array([1.0, 0.9, 0.8, 0.7]),
        "history.val_accuracy": np.array([0.0, 0.25, 0.5, 0.5]),
        "history.epoch": np.array([1, 2, 3, 4]),
        "history_stride": np.array(1),
        "norm.mean": np.array([0.5, -0.5]),
        "norm.std": np.array([2.0, 0.25]),
        "classes": np.array([3.0, 7.0]),
    }


def weights_only() -> dict[str, np.ndarray]:
    a = base_arrays()
    return {k: a[k] for k in ("format_version", "config", "params", "epoch", "meta")}


def write_ckpt(path, arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def bad(path, detail) -> str:
    return f"{path}: not a valid fastnn checkpoint: {detail}"


def refused(path) -> str:
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path)
    return str(info.value)


def test_a_full_checkpoint_loads_entry_by_entry(tmp_path):
    p = write_ckpt(tmp_path / "m.npz", base_arrays())
    c = checkpoint.load(p)
    assert c.model.config() == CONFIG and c.model.input_shape == (2,)
    assert c.model.params.dtype == np.float64
    np.testing.assert_array_equal(c.model.params, np.arange(13) / 10.0)
    assert c.optimizer == {"name": "adam", "hyperparams": {"lr": 0.01, "beta1": 0.9}, "t": 3}
    assert c.trainer == {"loss": "bce", "clip": None, "seed": 5,
                         "rng": json.loads(json.dumps(RNG_STATE))}
    assert sorted(c.optimizer_state) == ["m", "v"]
    np.testing.assert_array_equal(c.optimizer_state["m"], [0.5] * 13)
    np.testing.assert_array_equal(c.optimizer_state["v"], [0.25] * 13)
    assert c.epoch == 4 and c.meta == {"spec": {"hidden": [3]}} and c.history_stride == 1
    assert sorted(c.history) == ["accuracy", "epoch", "loss", "val_accuracy", "val_loss"]
    np.testing.assert_array_equal(c.history["loss"], [0.9, 0.8, 0.7, 0.6])
    np.testing.assert_array_equal(c.history["val_accuracy"], [0.0, 0.25, 0.5, 0.5])
    np.testing.assert_array_equal(c.history["epoch"], [1, 2, 3, 4])
    assert c.history["epoch"].dtype == np.int64
    np.testing.assert_array_equal(c.norm_mean, [0.5, -0.5])
    np.testing.assert_array_equal(c.norm_std, [2.0, 0.25])
    np.testing.assert_array_equal(c.classes, [3.0, 7.0])
    assert checkpoint.load_model(p).config() == CONFIG


def test_a_weights_only_checkpoint_loads_with_defaults(tmp_path):
    p = write_ckpt(tmp_path / "w.npz", weights_only())
    c = checkpoint.load(p)
    assert c.optimizer is None and c.trainer is None and c.optimizer_state == {}
    assert c.history == {} and c.history_stride == 1
    assert c.norm_mean is None and c.norm_std is None and c.classes is None
    np.testing.assert_array_equal(c.model.params, np.arange(13) / 10.0)


def test_edges_that_load(tmp_path):
    """Values at the edge of each range: they load, with the value given."""
    a = base_arrays()
    a["epoch"] = np.array(MAX)
    a["trainer"] = js({"loss": "bce", "clip": [-1, 1.5], "seed": 0, "l2": 0,
                       "rng": {**RNG_STATE, "has_uint32": 1, "uinteger": 2**32 - 1}})
    a["optimizer"] = js({"name": "sgd", "hyperparams": {}, "t": 0})
    a["history.epoch"] = np.array([MAX - 3, MAX - 2, MAX - 1, MAX], dtype=np.int64)
    a["history.accuracy"] = np.array([0.0, 1.0, 0.0, 1.0])
    c = checkpoint.load(write_ckpt(tmp_path / "e.npz", a))
    assert c.epoch == MAX and c.trainer["clip"] == [-1, 1.5] and c.trainer["l2"] == 0
    assert c.trainer["rng"]["uinteger"] == 2**32 - 1 and c.optimizer["t"] == 0
    np.testing.assert_array_equal(c.history["epoch"], [MAX - 3, MAX - 2, MAX - 1, MAX])
    # a stride of 2**62 (the largest) with an entry at epoch 2**62, from an unsigned array
    a = weights_only()
    a.update({"epoch": np.array(2**62, dtype=np.uint64), "history.loss": np.array([0.5]),
              "history.accuracy": np.array([0.5]),
              "history_stride": np.array(2**62), "history.epoch": np.array([2**62])})
    c = checkpoint.load(write_ckpt(tmp_path / "s.npz", a))
    assert c.history_stride == 2**62 and c.epoch == 2**62
    np.testing.assert_array_equal(c.history["epoch"], [2**62])
    # the rng state's largest values; epoch 0 with an empty history; float32 model
    a = base_arrays()
    a["trainer"] = js({"loss": "bce", "clip": None, "seed": MAX,
                       "rng": {**RNG_STATE, "state": {"state": 2**128 - 1, "inc": 2**128 - 1}}})
    assert checkpoint.load(write_ckpt(tmp_path / "r.npz", a)).trainer["seed"] == MAX
    a = weights_only()
    a["config"] = js({**CONFIG, "dtype": "float32"})
    a["params"] = np.ones(13, dtype=np.float32)
    a["epoch"] = np.array(0)
    c = checkpoint.load(write_ckpt(tmp_path / "f.npz", a))
    assert c.model.params.dtype == np.float32 and c.epoch == 0
    np.testing.assert_array_equal(c.model.params, np.ones(13))


def test_three_classes_for_three_outputs_and_strided_history(tmp_path):
    a = weights_only()
    cfg = {"layers": [{"type": "Dense", "din": 2, "dout": 3}], "input_shape": [2],
           "dtype": "float64"}
    a.update({"config": js(cfg), "params": np.zeros(9), "classes": np.array([-1.0, 0.0, 2.5]),
              "epoch": np.array(9), "history.loss": np.array([0.5, 0.25]),
              "history.accuracy": np.array([1.0, 0.0]),
              "history_stride": np.array(4), "history.epoch": np.array([4, 8], dtype=np.int32)})
    c = checkpoint.load(write_ckpt(tmp_path / "c.npz", a))
    np.testing.assert_array_equal(c.classes, [-1.0, 0.0, 2.5])
    assert c.history_stride == 4 and c.history["epoch"].dtype == np.int64
    np.testing.assert_array_equal(c.history["epoch"], [4, 8])
    assert sorted(c.history) == ["accuracy", "epoch", "loss"]
    # a history without epoch numbers (stride 1) is epochs 1..n
    a = weights_only()
    a.update({"history.loss": np.array([0.5, 0.25]), "history.accuracy": np.array([1.0, 0.0]),
              "epoch": np.array(2)})
    c = checkpoint.load(write_ckpt(tmp_path / "h.npz", a))
    assert sorted(c.history) == ["accuracy", "loss"] and c.history_stride == 1


def _pop(name):
    def f(a):
        del a[name]
    return f


def _set(name, value):
    def f(a):
        a[name] = value
    return f


def _json(entry, **changes):
    def f(a):
        a[entry] = js({**json.loads(str(a[entry])), **changes})
    return f


def _drop_key(entry, key):
    def f(a):
        obj = json.loads(str(a[entry]))
        del obj[key]
        a[entry] = js(obj)
    return f


def _rng(**changes):
    def f(a):
        t = json.loads(str(a["trainer"]))
        t["rng"] = {**t["rng"], **changes}
        a["trainer"] = js(t)
    return f


def _rng_state(**changes):
    def f(a):
        t = json.loads(str(a["trainer"]))
        t["rng"]["state"] = {**t["rng"]["state"], **changes}
        a["trainer"] = js(t)
    return f


def _several(*fs):
    def f(a):
        for g in fs:
            g(a)
    return f


LONG = "x" * 70
SHORT_LONG = json.dumps(LONG)[:60] + "..."
I64 = f"[0, {MAX}]"

# (id, change of base_arrays(), the detail after "PATH: not a valid fastnn checkpoint: ")
BAD = [
    ("unknown", _set("evil", np.zeros(2)), "unknown entry 'evil'"),
    ("unknown-history", _set("history.lr", np.zeros(4)), "unknown entry 'history.lr'"),
    ("lacks-two", _several(_pop("format_version"), _pop("meta")),
     "it lacks format_version, meta"),
    ("lacks-config", _pop("config"), "it lacks config"),
    ("lacks-params", _pop("params"), "it lacks params"),
    ("lacks-epoch", _pop("epoch"), "it lacks epoch"),
    ("version-float", _set("format_version", np.array(2.0)),
     f"format_version must be an integer in {I64}, got a float64 array of shape ()"),
    ("version-1d", _set("format_version", np.array([2])),
     f"format_version must be an integer in {I64}, got a int64 array of shape (1,)"),
    ("version-bool", _set("format_version", np.array(True)),
     f"format_version must be an integer in {I64}, got a bool array of shape ()"),
    ("epoch-negative", _set("epoch", np.array(-1)),
     f"epoch must be an integer in {I64}, got -1"),
    ("epoch-too-big", _set("epoch", np.array(2**63, dtype=np.uint64)),
     f"epoch must be an integer in {I64}, got {2**63}"),
    ("config-bytes", _set("config", np.array(b"{}")),
     "config must be JSON text, got a |S2 array of shape ()"),
    ("config-1d", _set("config", np.array(["{}"])),
     "config must be JSON text, got a <U2 array of shape (1,)"),
    ("config-list", _set("config", js([1, 2])), "config must be a JSON object, got list [1, 2]"),
    ("config-long-str", _set("config", js(LONG)),
     f"config must be a JSON object, got str {SHORT_LONG}"),
    ("config-60", _set("config", js("y" * 58)),
     f"config must be a JSON object, got str {json.dumps('y' * 58)}"),
    ("config-61", _set("config", js("y" * 59)),
     f"config must be a JSON object, got str \"{'y' * 59}..."),
    ("config-bad-json", _set("config", np.array("{'a': 1}")),
     "config is not valid JSON (Expecting property name enclosed in double quotes: "
     "line 1 column 2 (char 1))"),
    ("config-nan", _set("config", np.array('{"a": NaN}')),
     "config is not valid JSON (NaN is not JSON)"),
    ("config-infinity", _set("config", np.array('{"a": -Infinity}')),
     "config is not valid JSON (-Infinity is not JSON)"),
    ("config-lacks", _drop_key("config", "layers"), "config lacks layers"),
    ("config-lacks-two", _several(_drop_key("config", "layers"), _drop_key("config", "dtype")),
     "config lacks dtype, layers"),
    ("config-unknown", _json("config", init="he", a=1), "config has unknown a, init"),
    ("config-lacks-and-unknown", _several(_drop_key("config", "dtype"), _json("config", b=2)),
     "config lacks dtype and has unknown b"),
    ("layers-empty", _json("config", layers=[]),
     "config: layers must be a non-empty list, got []"),
    ("layers-dict", _json("config", layers={"type": "Dense"}),
     "config: layers must be a non-empty list, got {\"type\": \"Dense\"}"),
    ("input-empty", _json("config", input_shape=[]),
     "config: input_shape must be a list of positive integers, got []"),
    ("input-str", _json("config", input_shape="2"),
     "config: input_shape must be a list of positive integers, got \"2\""),
    ("input-zero", _json("config", input_shape=[2, 0]),
     "config: input_shape must be a list of positive integers, got [2, 0]"),
    ("input-bool", _json("config", input_shape=[True]),
     "config: input_shape must be a list of positive integers, got [true]"),
    ("input-float", _json("config", input_shape=[2.0]),
     "config: input_shape must be a list of positive integers, got [2.0]"),
    ("input-huge", _json("config", input_shape=[2**62 + 1]),
     f"config: input_shape must be a list of positive integers, got [{2**62 + 1}]"),
    ("dtype-int8", _json("config", dtype="int8"),
     "config: dtype must be float64 or float32, got \"int8\""),
    ("dtype-none", _json("config", dtype=None),
     "config: dtype must be float64 or float32, got null"),
    ("layer-type", _json("config", layers=[LAYERS[0], {"type": "Dense2"}]),
     "config: layer 1: unknown layer type 'Dense2'; choose from: Dense, Activation, Conv2d, "
     "MaxPool2d, Flatten"),
    ("layer-bias", _json("config", layers=[{**LAYERS[0], "bias": "no"}]),
     "config: layer 0: bias must be true or false, got 'no'"),
    ("params-float32", _set("params", np.ones(13, dtype=np.float32)),
     "its architecture has 13 float64 parameters, but params is a float32 array of shape (13,)"),
    ("params-short", _set("params", np.ones(12)),
     "its architecture has 13 float64 parameters, but params is a float64 array of shape (12,)"),
    ("params-2d", _set("params", np.ones((1, 13))),
     "its architecture has 13 float64 parameters, but params is a float64 array of shape "
     "(1, 13)"),
    ("params-nan", _set("params", np.r_[np.zeros(12), np.nan]),
     "params holds NaN or inf (first at index (12,))"),
    ("params-inf", _set("params", np.r_[np.zeros(3), np.inf, np.zeros(8), np.nan]),
     "params holds NaN or inf (first at index (3,))"),
    ("meta-list", _set("meta", js([])), "meta must be a JSON object, got list []"),
    ("meta-spec", _set("meta", js({"spec": 3})), "meta: spec must be a JSON object, got 3"),
    ("meta-spec-list", _set("meta", js({"spec": [1]})),
     "meta: spec must be a JSON object, got [1]"),
    ("no-trainer", _pop("trainer"), "optimizer, trainer and opt.* entries come together (a "
     "training state) or not at all (weights only)"),
    ("no-optimizer", _pop("optimizer"), "optimizer, trainer and opt.* entries come together (a "
     "training state) or not at all (weights only)"),
    ("slots-alone", _several(_pop("optimizer"), _pop("trainer")), "optimizer, trainer and "
     "opt.* entries come together (a training state) or not at all (weights only)"),
    ("optimizer-lacks", _drop_key("optimizer", "t"), "optimizer lacks t"),
    ("optimizer-name", _json("optimizer", name=1),
     "optimizer must hold a name, numeric hyperparams and a step count t >= 0, got "
     "{\"name\": 1, \"hyperparams\": {\"lr\": 0.01, \"beta1\": 0.9}, \"t\": ..."),
    ("optimizer-hyper-list", _json("optimizer", name="a", hyperparams=[1], t=0),
     "optimizer must hold a name, numeric hyperparams and a step count t >= 0, got "
     "{\"name\": \"a\", \"hyperparams\": [1], \"t\": 0}"),
    ("optimizer-hyper-str", _json("optimizer", name="a", hyperparams={"lr": "1"}, t=0),
     "optimizer must hold a name, numeric hyperparams and a step count t >= 0, got "
     "{\"name\": \"a\", \"hyperparams\": {\"lr\": \"1\"}, \"t\": 0}"),
    ("optimizer-hyper-bool", _json("optimizer", name="a", hyperparams={"lr": True}, t=0),
     "optimizer must hold a name, numeric hyperparams and a step count t >= 0, got "
     "{\"name\": \"a\", \"hyperparams\": {\"lr\": true}, \"t\": 0}"),
    ("optimizer-hyper-inf", _set("optimizer", np.array(
        '{"name": "a", "hyperparams": {"lr": 1e999}, "t": 0}')),
     "optimizer must hold a name, numeric hyperparams and a step count t >= 0, got "
     "{\"name\": \"a\", \"hyperparams\": {\"lr\": Infinity}, \"t\": 0}"),
    ("optimizer-t", _json("optimizer", name="a", hyperparams={}, t=-1),
     "optimizer must hold a name, numeric hyperparams and a step count t >= 0, got "
     "{\"name\": \"a\", \"hyperparams\": {}, \"t\": -1}"),
    ("optimizer-t-big", _json("optimizer", name="a", hyperparams={}, t=2**63),
     "optimizer must hold a name, numeric hyperparams and a step count t >= 0, got "
     f"{{\"name\": \"a\", \"hyperparams\": {{}}, \"t\": {2**63}}}"),
    ("trainer-lacks", _drop_key("trainer", "seed"), "trainer lacks seed"),
    ("trainer-unknown", _json("trainer", l3=0), "trainer has unknown l3"),
    ("trainer-loss", _json("trainer", loss=1), "trainer: loss must be a name, got 1"),
    ("clip-str", _json("trainer", clip="1"),
     "trainer: clip must be null or [lo, hi] with lo < hi, got \"1\""),
    ("clip-three", _json("trainer", clip=[1, 2, 3]),
     "trainer: clip must be null or [lo, hi] with lo < hi, got [1, 2, 3]"),
    ("clip-one", _json("trainer", clip=[1]),
     "trainer: clip must be null or [lo, hi] with lo < hi, got [1]"),
    ("clip-equal", _json("trainer", clip=[1, 1]),
     "trainer: clip must be null or [lo, hi] with lo < hi, got [1, 1]"),
    ("clip-reversed", _json("trainer", clip=[2, 1]),
     "trainer: clip must be null or [lo, hi] with lo < hi, got [2, 1]"),
    ("clip-text", _json("trainer", clip=["a", "b"]),
     "trainer: clip must be null or [lo, hi] with lo < hi, got [\"a\", \"b\"]"),
    ("l2-negative", _json("trainer", l2=-0.5), "trainer: l2 must be a number >= 0, got -0.5"),
    ("l2-str", _json("trainer", l2="1"), "trainer: l2 must be a number >= 0, got \"1\""),
    ("l2-none", _json("trainer", l2=None), "trainer: l2 must be a number >= 0, got null"),
    ("seed-negative", _json("trainer", seed=-1),
     "trainer: seed must be null or an integer >= 0, got -1"),
    ("seed-str", _json("trainer", seed="1"),
     "trainer: seed must be null or an integer >= 0, got \"1\""),
    ("seed-big", _json("trainer", seed=2**63),
     f"trainer: seed must be null or an integer >= 0, got {2**63}"),
    ("slot-float32", _set("opt.m", np.ones(13, dtype=np.float32)),
     "opt.m must be a float64 array of shape (13,), got a float32 array of shape (13,)"),
    ("slot-short", _set("opt.v", np.ones(12)),
     "opt.v must be a float64 array of shape (13,), got a float64 array of shape (12,)"),
    ("slot-2d", _set("opt.v", np.ones((13, 1))),
     "opt.v must be a float64 array of shape (13,), got a float64 array of shape (13, 1)"),
    ("slot-0d", _set("opt.v", np.array(1.0)),
     "opt.v must be a float64 array of shape (13,), got a float64 array of shape ()"),
    ("slot-nan", _set("opt.v", np.r_[np.ones(5), np.nan, np.ones(7)]),
     "opt.v holds NaN or inf (first at index (5,))"),
    ("history-uneven", _set("history.accuracy", np.array([0.5, 0.5, 0.5])),
     "history.loss has 4 epochs but history.accuracy 3"),
    ("history-loss-alone", _pop("history.accuracy"),
     "history.loss has 4 epochs but history.accuracy 0"),
    ("history-accuracy-alone", _several(*(_pop(f"history.{k}") for k in (
        "loss", "val_loss", "val_accuracy")), _pop("history.epoch")),
     "history.loss has 0 epochs but history.accuracy 4"),
    ("history-val-uneven", _set("history.val_accuracy", np.array([0.5])),
     "history.val_loss has 4 epochs but history.val_accuracy 1"),
    ("history-too-long", _set("epoch", np.array(3)),
     "the history has 4 epochs (and 4 of validation) for a run of 3 epochs"),
    ("history-val-short", _several(_set("history.val_loss", np.ones(3)),
                                   _set("history.val_accuracy", np.ones(3))),
     "the history has 4 epochs (and 3 of validation) for a run of 4 epochs"),
    ("history-val-long", _several(_set("history.val_loss", np.ones(5)),
                                  _set("history.val_accuracy", np.ones(5)), _set(
                                      "epoch", np.array(5))),
     "the history has 4 epochs (and 5 of validation) for a run of 5 epochs"),
    ("history-2d", _set("history.loss", np.ones((4, 1))),
     "history.loss must be a float array of shape (N,), got a float64 array of shape (4, 1)"),
    ("history-int", _set("history.loss", np.ones(4, dtype=np.int64)),
     "history.loss must be a float array of shape (N,), got a int64 array of shape (4,)"),
    ("history-nan", _set("history.val_loss", np.array([1.0, 1.0, np.inf, 1.0])),
     "history.val_loss holds NaN or inf (first at index (2,))"),
    ("accuracy-above", _set("history.accuracy", np.array([0.5, 1.0 + 2**-52, 0.5, 0.5])),
     "history.accuracy holds values outside [0, 1]"),
    ("accuracy-below", _set("history.accuracy", np.array([0.5, 0.5, -1e-300, 0.5])),
     "history.accuracy holds values outside [0, 1]"),
    ("val-accuracy-above", _set("history.val_accuracy", np.array([2.0, 0.5, 0.5, 0.5])),
     "history.val_accuracy holds values outside [0, 1]"),
    ("stride-zero", _set("history_stride", np.array(0)),
     "history_stride must be an integer in [1, 4611686018427387904], got 0"),
    ("stride-big", _set("history_stride", np.array(2**62 + 2)),
     "history_stride must be an integer in [1, 4611686018427387904], got 4611686018427387906"),
    ("stride-three", _set("history_stride", np.array(3)),
     "history_stride must be a power of two, got 3"),
    ("stride-six", _set("history_stride", np.array(6)),
     "history_stride must be a power of two, got 6"),
    ("stride-without-epochs", _several(_pop("history.epoch"), _set("history_stride",
                                                                  np.array(2))),
     "history_stride without history.epoch"),
    ("epochs-float", _set("history.epoch", np.array([1.0, 2.0, 3.0, 4.0])),
     "history.epoch must be 4 integers (one per entry), got a float64 array of shape (4,)"),
    ("epochs-short", _set("history.epoch", np.array([1, 2, 3])),
     "history.epoch must be 4 integers (one per entry), got a int64 array of shape (3,)"),
    ("epochs-2d", _set("history.epoch", np.array([[1, 2, 3, 4]])),
     "history.epoch must be 4 integers (one per entry), got a int64 array of shape (1, 4)"),
    ("epochs-zero", _set("history.epoch", np.array([0, 2, 3, 4])),
     "history.epoch must be increasing multiples of 1 in [1, 4]"),
    ("epochs-beyond", _set("history.epoch", np.array([1, 2, 3, 5])),
     "history.epoch must be increasing multiples of 1 in [1, 4]"),
    ("epochs-equal", _set("history.epoch", np.array([1, 2, 2, 4])),
     "history.epoch must be increasing multiples of 1 in [1, 4]"),
    ("epochs-down", _set("history.epoch", np.array([1, 3, 2, 4])),
     "history.epoch must be increasing multiples of 1 in [1, 4]"),
    ("epochs-not-multiples", _several(_set("history_stride", np.array(2)), _set(
        "epoch", np.array(8)), _set("history.epoch", np.array([2, 4, 6, 7]))),
     "history.epoch must be increasing multiples of 2 in [1, 8]"),
    ("norm-mean-alone", _pop("norm.std"), "norm.mean and norm.std come together or not at all"),
    ("norm-std-alone", _pop("norm.mean"), "norm.mean and norm.std come together or not at all"),
    ("norm-mean-shape", _set("norm.mean", np.zeros(3)),
     "norm.mean must be a float array of shape (2,), got a float64 array of shape (3,)"),
    ("norm-std-shape", _set("norm.std", np.ones((2, 1))),
     "norm.std must be a float array of shape (2,), got a float64 array of shape (2, 1)"),
    ("norm-std-nan", _set("norm.std", np.array([1.0, np.nan])),
     "norm.std holds NaN or inf (first at index (1,))"),
    ("norm-std-zero", _set("norm.std", np.array([1.0, 0.0])), "norm.std holds a value <= 0"),
    ("norm-std-negative", _set("norm.std", np.array([-1.0, 1.0])),
     "norm.std holds a value <= 0"),
    ("classes-three", _set("classes", np.array([1.0, 2.0, 3.0])),
     "classes must be a float array of shape (2,), got a float64 array of shape (3,)"),
    ("classes-equal", _set("classes", np.array([3.0, 3.0])),
     "classes must be distinct and in increasing order"),
    ("classes-down", _set("classes", np.array([7.0, 3.0])),
     "classes must be distinct and in increasing order"),
    ("classes-nan", _set("classes", np.array([3.0, np.nan])),
     "classes holds NaN or inf (first at index (1,))"),
]


@pytest.mark.parametrize("change, detail", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_entry_is_rejected_with_its_message(tmp_path, change, detail):
    a = base_arrays()
    change(a)
    p = write_ckpt(tmp_path / "m.npz", a)
    assert refused(p) == bad(p, detail)


RNG_BAD = [
    ("not-dict", {"rng": [1]}),
    ("extra-key", {"extra": 1}),
    ("other-generator", {"bit_generator": "MT19937"}),
    ("state-list", {"state": [1, 2]}),
    ("has-uint32-2", {"has_uint32": 2}),
    ("uinteger-big", {"uinteger": 2**32}),
    ("uinteger-negative", {"uinteger": -1}),
    ("uinteger-bool", {"uinteger": True}),
]
RNG_STATE_BAD = [
    ("state-extra", {"x": 1}),
    ("state-big", {"state": 2**128}),
    ("inc-big", {"inc": 2**128}),
    ("state-negative", {"state": -1}),
    ("inc-negative", {"inc": -1}),
    ("inc-str", {"inc": "1"}),
]


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:60] + "..."


@pytest.mark.parametrize("changes", [c[1] for c in RNG_BAD], ids=[c[0] for c in RNG_BAD])
def test_a_bad_rng_state_is_rejected(tmp_path, changes):
    a = base_arrays()
    if "rng" in changes:
        _json("trainer", rng=changes["rng"])(a)
        state = changes["rng"]
    else:
        _rng(**changes)(a)
        state = {**json.loads(json.dumps(RNG_STATE)), **changes}
    p = write_ckpt(tmp_path / "m.npz", a)
    assert refused(p) == bad(p, f"trainer: rng is not a PCG64 generator state: {_short(state)}")


@pytest.mark.parametrize("changes", [c[1] for c in RNG_STATE_BAD],
                         ids=[c[0] for c in RNG_STATE_BAD])
def test_a_bad_rng_inner_state_is_rejected(tmp_path, changes):
    a = base_arrays()
    _rng_state(**changes)(a)
    state = json.loads(json.dumps(RNG_STATE))
    state["state"] = {**state["state"], **changes}
    p = write_ckpt(tmp_path / "m.npz", a)
    assert refused(p) == bad(p, f"trainer: rng is not a PCG64 generator state: {_short(state)}")


def test_the_rng_refusal_with_a_missing_key(tmp_path):
    a = base_arrays()
    t = json.loads(str(a["trainer"]))
    del t["rng"]["uinteger"]
    a["trainer"] = js(t)
    p = write_ckpt(tmp_path / "m.npz", a)
    assert refused(p) == bad(p, f"trainer: rng is not a PCG64 generator state: "
                                f"{_short(t['rng'])}")


def test_classes_for_an_image_output_are_rejected(tmp_path):
    a = weights_only()
    cfg = {"layers": [{"type": "Conv2d", "cin": 1, "cout": 2, "kernel_size": [1, 1],
                       "stride": 1, "padding": 0}], "input_shape": [1, 3, 3],
           "dtype": "float64"}
    a.update({"config": js(cfg), "params": np.zeros(4), "classes": np.array([0.0, 1.0])})
    p = write_ckpt(tmp_path / "c.npz", a)
    assert refused(p) == bad(p, "classes given for a model whose output has shape (2, 3, 3)")
    a["config"] = js({**CONFIG, "layers": LAYERS[:1]})
    a["params"] = np.zeros(9)
    a["classes"] = np.array([0.0, 1.0])
    p = write_ckpt(tmp_path / "d.npz", a)
    assert refused(p) == bad(p, "classes must be a float array of shape (3,), got a float64 "
                                "array of shape (2,)")


def test_a_deeply_nested_json_is_rejected(tmp_path):
    a = weights_only()
    a["meta"] = np.array("[" * 100000 + "]" * 100000)
    p = write_ckpt(tmp_path / "m.npz", a)
    assert refused(p).startswith(bad(p, "meta is not valid JSON (maximum recursion depth"))


def test_a_version_other_than_2(tmp_path):
    a = weights_only()
    a["format_version"] = np.array(1)
    p = write_ckpt(tmp_path / "m.npz", a)
    assert refused(p) == f"{p}: checkpoint format version 1; this fastnn reads version 2"
    a["format_version"] = np.array(3)
    p = write_ckpt(tmp_path / "m.npz", a)
    assert refused(p) == f"{p}: checkpoint format version 3; this fastnn reads version 2"


# -- the archive's members, before they are read ---------------------------------------------------

def npy(a: np.ndarray, version=None) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version, allow_pickle=False)
    return buf.getvalue()


def write_zip(path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return str(path)


def members_of(arrays) -> dict[str, bytes]:
    return {f"{k}.npy": npy(v) for k, v in arrays.items()}


def test_npy_format_version_2_loads_and_3_is_rejected(tmp_path):
    m = members_of(weights_only())
    m["params.npy"] = npy(np.arange(13) / 10.0, version=(2, 0))
    c = checkpoint.load(write_zip(tmp_path / "v2.npz", m))
    np.testing.assert_array_equal(c.model.params, np.arange(13) / 10.0)
    m["epoch.npy"] = b"\x93NUMPY\x03\x00" + npy(np.array(4), version=(2, 0))[8:]
    p = write_zip(tmp_path / "v3.npz", m)
    assert refused(p) == bad(p, "entry 'epoch' has .npy format version (3, 0)")


def test_members_that_are_not_arrays(tmp_path):
    m = members_of(weights_only())
    p = write_zip(tmp_path / "t.npz", {**m, "notes.txt": b"hi"})
    assert refused(p) == bad(p, "entry 'notes.txt' is not a NumPy array")
    p = write_zip(tmp_path / "o.npz", {**m, "params.npy": npy(np.array([1, None]))
                                       if False else _object_npy()})
    assert refused(p) == bad(p, "entry 'params' holds Python objects, which fastnn never reads")


def _object_npy() -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([1, None], dtype=object), allow_pickle=True)
    return buf.getvalue()


def test_a_header_that_declares_more_than_it_holds(tmp_path):
    m = members_of(weights_only())
    full = npy(np.zeros(100))
    header = len(full) - 800
    p = write_zip(tmp_path / "f.npz", {**m, "params.npy": full[:-1]})
    assert refused(p) == bad(p, "entry 'params' declares (100,) float64 (800 bytes) but holds "
                                "799 bytes")
    big = npy(np.zeros(2000))
    p = write_zip(tmp_path / "g.npz", {**m, "params.npy": big[:header + 8]})
    assert refused(p) == bad(p, "entry 'params' declares (2000,) float64 (16 kB) but holds "
                                "8 bytes")
    # bytes after the array: the header's size fits, reading finds the rest
    p = write_zip(tmp_path / "h.npz", {**m, "params.npy": npy(np.arange(13) / 10.0) + b"\0"})
    assert refused(p) == bad(p, "params has data after its array")


def test_whole_file_refusals(tmp_path):
    missing = tmp_path / "none.npz"
    assert refused(missing) == f"{missing}: no such checkpoint file"
    assert refused(tmp_path) == f"{tmp_path}: is a folder, not a checkpoint file"
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    assert refused(fifo) == f"{fifo}: not a regular file"
    text = tmp_path / "t.npz"
    text.write_text("a,b\n")
    assert refused(text) == (f"{text}: not a readable fastnn checkpoint (not a NumPy .npz "
                             "archive)")
    loop = tmp_path / "loop.npz"
    loop.symlink_to(loop)
    assert refused(loop) == f"{loop}: not a readable fastnn checkpoint (Too many levels of " \
                            "symbolic links)"
    good = (tmp_path / "good.npz")
    write_ckpt(good, weights_only())
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:-30])
    assert refused(cut).startswith(f"{cut}: not a readable fastnn checkpoint (")


def test_a_flipped_byte_is_a_crc_error(tmp_path):
    good = tmp_path / "good.npz"
    members = members_of(weights_only())
    with zipfile.ZipFile(good, "w") as z:  # stored, so the params bytes are in the file as is
        for name, data in members.items():
            z.writestr(name, data)
    raw = bytearray(good.read_bytes())
    at = raw.index(npy(np.arange(13) / 10.0)[-8:])
    raw[at] ^= 0xFF
    good.write_bytes(bytes(raw))
    assert refused(good) == f"{good}: not a readable fastnn checkpoint (Bad CRC-32 for file " \
                            "'params.npy')"


def test_memory_checks_name_their_sizes(tmp_path, monkeypatch):
    p = write_ckpt(tmp_path / "m.npz", weights_only())
    sizes = {i.filename: i.file_size for i in zipfile.ZipFile(p).infolist()}
    total = sum(sizes.values())
    hb = memory.human_bytes
    monkeypatch.setattr(memory, "available_bytes", lambda: total - 1)
    with pytest.raises(memory.MemoryLimitError) as info:
        checkpoint.load(p)
    assert str(info.value) == (f"{p}: reading its arrays needs {hb(total)}; about "
                               f"{hb(total - 1)} of memory is available")
    # the model: a 20-20 Dense layer (420 parameters) with its footprint, plus every array's
    # bytes (420 x 8, two 8-byte integers, two JSON texts of 4 bytes a character)
    from fastnn.nn.layers import layer_from_config
    from fastnn.nn.model import plan
    layers = [{"type": "Dense", "din": 20, "dout": 20}]
    arrays = {**weights_only(), "config": js({**CONFIG, "layers": layers, "input_shape": [20]}),
              "params": np.zeros(420)}
    p = write_ckpt(tmp_path / "big.npz", arrays)
    footprint = plan([layer_from_config(c) for c in layers], (20,), "float64")[1]
    need = footprint.nbytes() + 3360 + 16 + 4 * len(str(arrays["config"])) + \
        4 * len(str(arrays["meta"]))
    assert sum(i.file_size for i in zipfile.ZipFile(p).infolist()) < need - 1
    monkeypatch.setattr(memory, "available_bytes", lambda: need - 1)
    with pytest.raises(memory.MemoryLimitError) as info:
        checkpoint.load(p)
    assert str(info.value) == (f"{p}: loading its model of 420 parameters needs {hb(need)}; "
                               f"about {hb(need - 1)} of memory is available")
    monkeypatch.setattr(memory, "available_bytes", lambda: need)
    assert checkpoint.load(p).epoch == 4


# -- save ------------------------------------------------------------------------------------------

def _fake_trainer(l2=0.5):
    opt = SimpleNamespace(name="adam", hyperparams=lambda: {"lr": 0.01}, t=7,
                          state={"m": np.full(13, 0.5), "v": np.full(13, 0.25)})
    rng = np.random.default_rng(9)
    return SimpleNamespace(optimizer=opt, loss="bce", clip=[-1.0, 1.0], seed=9, _rng=rng, l2=l2)


def _read(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_save_writes_exactly_these_entries(tmp_path):
    model = MLP([2, 3, 1], activation="tanh", seed=0)
    model.params[...] = np.arange(13) / 10.0
    t = _fake_trainer()
    h = SimpleNamespace(epoch=[np.int32(2), np.int32(4)], stride=np.int32(2),
                        loss=[1, 0], accuracy=[0, 1], val_loss=[], val_accuracy=[])
    p = tmp_path / "s.npz"
    checkpoint.save(p, model, t, epoch=np.int32(5), history=h, norm_mean=[1, 2],
                    norm_std=[3, 4], classes=[3, 7], meta={"spec": {"a": 1}})
    a = _read(p)
    assert sorted(a) == ["classes", "config", "epoch", "format_version", "history.accuracy",
                         "history.epoch", "history.loss", "history_stride", "meta", "norm.mean",
                         "norm.std", "opt.m", "opt.v", "optimizer", "params", "trainer"]
    assert a["format_version"].dtype == np.int64 and int(a["format_version"]) == 2
    assert a["epoch"].dtype == np.int64 and int(a["epoch"]) == 5
    assert json.loads(str(a["config"])) == CONFIG
    assert json.loads(str(a["meta"])) == {"spec": {"a": 1}}
    assert json.loads(str(a["optimizer"])) == {"name": "adam", "hyperparams": {"lr": 0.01},
                                               "t": 7}
    assert json.loads(str(a["trainer"])) == {
        "loss": "bce", "clip": [-1.0, 1.0], "seed": 9, "l2": 0.5,
        "rng": json.loads(json.dumps(np.random.default_rng(9).bit_generator.state))}
    np.testing.assert_array_equal(a["params"], np.arange(13) / 10.0)
    np.testing.assert_array_equal(a["opt.m"], [0.5] * 13)
    np.testing.assert_array_equal(a["opt.v"], [0.25] * 13)
    assert a["history.epoch"].dtype == np.int64 and a["history_stride"].dtype == np.int64
    np.testing.assert_array_equal(a["history.epoch"], [2, 4])
    assert int(a["history_stride"]) == 2
    for name, want in (("history.loss", [1, 0]), ("history.accuracy", [0, 1]),
                       ("norm.mean", [1, 2]), ("norm.std", [3, 4]), ("classes", [3, 7])):
        assert a[name].dtype == np.float64, name
        np.testing.assert_array_equal(a[name], want)
    c = checkpoint.load(p)  # and it reads back
    assert c.epoch == 5 and c.history_stride == 2


def test_save_leaves_out_what_is_not_there(tmp_path):
    model = MLP([2, 3, 1], activation="tanh", seed=0)
    p = tmp_path / "s.npz"
    checkpoint.save(p, model, _fake_trainer(l2=0.0), history=SimpleNamespace(
        epoch=[], stride=1, loss=[], accuracy=[], val_loss=[], val_accuracy=[]))
    a = _read(p)
    assert sorted(a) == ["config", "epoch", "format_version", "meta", "opt.m", "opt.v",
                         "optimizer", "params", "trainer"]
    assert "l2" not in json.loads(str(a["trainer"])) and int(a["epoch"]) == 0
    assert json.loads(str(a["meta"])) == {}
    checkpoint.save_model(model, tmp_path / "w.npz")
    a = _read(tmp_path / "w.npz")
    assert sorted(a) == ["config", "epoch", "format_version", "meta", "params"]
    np.testing.assert_array_equal(a["params"], model.params)
    h = SimpleNamespace(epoch=[1], stride=1, loss=[0.5], accuracy=[0.5], val_loss=[0.25],
                        val_accuracy=[1.0])
    checkpoint.save(p, model, history=h)
    a = _read(p)
    assert sorted(k for k in a if k.startswith("history")) == [
        "history.accuracy", "history.epoch", "history.loss", "history.val_accuracy",
        "history.val_loss", "history_stride"]
    np.testing.assert_array_equal(a["history.val_loss"], [0.25])
    np.testing.assert_array_equal(a["history.val_accuracy"], [1.0])


# == data files ====================================================================================



def text_file(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def message(call, *args, **kwargs) -> str:
    with pytest.raises(DataFileError) as info:
        call(*args, **kwargs)
    return str(info.value)


def test_memory_bytes_is_the_physical_memory(monkeypatch):
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert datafiles._memory_bytes() == physical
    assert datafiles.MAX_FILE_BYTES == physical // 4
    for error in (ValueError, OSError, AttributeError):
        def fail(name, error=error):
            raise error(name)
        monkeypatch.setattr(os, "sysconf", fail)
        assert datafiles._memory_bytes() == 2**36


def test_a_path_that_is_not_printable_is_quoted(tmp_path):
    p = tmp_path / "a\tb.csv"
    assert message(datafiles.load_dataset, p) == f"{str(p)!r}: no such file"
    assert str(datafiles._error("x.csv", " two  words\n here ")) == "x.csv: two words here"


CSV_OK = [
    # (id, text, kwargs, X, raw labels, names)
    ("header", "a, b ,y\n1,2,0\n3,4,1\n", {}, [[1, 2], [3, 4]], [0, 1], ["a", "b"]),
    ("no-header", "1,2,0\n\n3,4.5,1\n", {}, [[1, 2], [3, 4.5]], [0, 1], ["x0", "x1"]),
    ("blank-cells-line", "a,b,y\n , ,\n1,2,3\n", {}, [[1, 2]], [3], ["a", "b"]),
    ("label-first", "1,2,0\n3,4,1\n", {"label_col": 0}, [[2, 0], [4, 1]], [1, 3],
     ["x1", "x2"]),
    ("label-negative-str", "1,2,0\n3,4,1\n", {"label_col": "-2"}, [[1, 0], [3, 1]], [2, 4],
     ["x0", "x2"]),
    ("label-digit-str", "1,2,0\n3,4,1\n", {"label_col": "1"}, [[1, 0], [3, 1]], [2, 4],
     ["x0", "x2"]),
    ("label-by-name", "p,q,r\n1,2,0\n3,4,1\n", {"label_col": "q"}, [[1, 0], [3, 1]], [2, 4],
     ["p", "r"]),
    ("label-lowest", "1,2,0\n3,4,1\n", {"label_col": -3}, [[2, 0], [4, 1]], [1, 3],
     ["x1", "x2"]),
    ("unlabelled", "1,2\n3,4\n", {"has_labels": False}, [[1, 2], [3, 4]], None, ["x0", "x1"]),
    ("one-column-unlabelled", "5\n6\n", {"has_labels": False}, [[5], [6]], None, ["x0"]),
    ("decide-labelled", "1,2,0\n3,4,1\n", {"has_labels": None, "n_features": 2},
     [[1, 2], [3, 4]], [0, 1], ["x0", "x1"]),
    ("decide-unlabelled", "1,2,0\n3,4,1\n", {"has_labels": None, "n_features": 3},
     [[1, 2, 0], [3, 4, 1]], None, ["x0", "x1", "x2"]),
    ("decide-by-label-col", "1,2,0\n3,4,1\n", {"has_labels": None, "label_col": 0},
     [[2, 0], [4, 1]], [1, 3], ["x1", "x2"]),
    ("decide-nothing", "1,2,0\n3,4,1\n", {"has_labels": None}, [[1, 2, 0], [3, 4, 1]], None,
     ["x0", "x1", "x2"]),
    ("bom", b"\xef\xbb\xbfa,y\n1,0\n2,1\n", {}, [[1], [2]], [0, 1], ["a"]),
    ("numbers", "1e-3,-2.5,+3\n.5,1E2,-0\n", {}, [[1e-3, -2.5], [0.5, 100]], [3, 0],
     ["x0", "x1"]),
]


@pytest.mark.parametrize("text, kwargs, X, y, names", [c[1:] for c in CSV_OK],
                         ids=[c[0] for c in CSV_OK])
def test_read_csv_values(tmp_path, text, kwargs, X, y, names):
    gotX, goty, gotnames = datafiles.read_csv(text_file(tmp_path, text), **kwargs)
    assert gotX.dtype == np.float64
    np.testing.assert_array_equal(gotX, X)
    assert gotX.shape == np.array(X).shape
    if y is None:
        assert goty is None
    else:
        np.testing.assert_array_equal(goty, y)
    assert gotnames == names


CSV_BAD = [
    ("empty", "", "the file is empty"),
    ("blank", "\n \n,,\n", "the file is empty"),
    ("header-only", "a,b,c\n", "the file has a header but no data rows"),
    ("ragged", "1,2,0\n\n3,4\n", "ragged row at line 3: 2 fields, expected 3"),
    ("ragged-after-header", "a,b,c\n1,2\n", "ragged row at line 2: 2 fields, expected 3"),
    ("ragged-longer", "1,2\n3,4,5\n", "ragged row at line 2: 3 fields, expected 2"),
    ("text", "a,b,y\n1,2,0\n3,x y,1\n", "non-numeric cell 'x y' at line 3, column 2"),
    ("text-spaces", "1,2,0\n3, x  \t y ,1\n", "non-numeric cell 'x \\t y' at line 2, column 2"),
    ("text-control", "1,2,0\n3,x\x01,1\n", "non-numeric cell 'x\\x01' at line 2, column 2"),
    ("empty-cell", "1,2,0\n3, ,1\n", "empty cell at line 2, column 2"),
    ("empty-first-cell", "1,2,0\n,4,1\n", "empty cell at line 2, column 1"),
    ("underscore", "1,2,0\n1_000,4,1\n",
     "'1_000' at line 2, column 1 is not a plain decimal number; write it without '_' "
     "separators or a 0x/0o/0b prefix"),
    ("hex", "1,2,0\n3,4,0x10\n",
     "'0x10' at line 2, column 3 is not a plain decimal number; write it without '_' "
     "separators or a 0x/0o/0b prefix"),
    ("binary-first-row", "0b1,2,0\n", "'0b1' at line 1, column 1 is not a plain decimal number; "
     "write it without '_' separators or a 0x/0o/0b prefix"),
    ("nan", "1,2,0\n3,nan,1\n", "nan (NaN or inf) at line 2, column 2"),
    ("minus-inf", "1,2,0\n3,-inf,1\n", "-inf (NaN or inf) at line 2, column 2"),
    ("plus-infinity", "1,2,0\n3,+Infinity,1\n", "+Infinity (NaN or inf) at line 2, column 2"),
    ("NAN", "1,2,0\n3,NaN ,1\n", "NaN (NaN or inf) at line 2, column 2"),
    ("huge", "1,2,0\n3,4,1e999\n",
     "1e999 at line 2, column 3 is beyond the range of float64 (about 1.8e308)"),
    ("huge-negative", "1,2,0\n-2e308,4,1\n",
     "-2e308 at line 2, column 1 is beyond the range of float64 (about 1.8e308)"),
    ("utf8", b"1,2,0\n3,\xff,1\n",
     "cannot read it as CSV text (it is not UTF-8: invalid start byte)"),
    ("csv-error", "1,2,0\n3," + "9" * 131073 + ",1\n",
     "cannot read it as CSV text (line 2: field larger than field limit (131072))"),
    ("one-column", "5\n6\n", "line 1 has 1 column(s); need at least 2 (features and a label)"),
    ("one-column-after-header", "a\n\n5\n6\n",
     "line 3 has 1 column(s); need at least 2 (features and a label)"),
]


@pytest.mark.parametrize("text, detail", [c[1:] for c in CSV_BAD], ids=[c[0] for c in CSV_BAD])
def test_a_bad_csv_is_one_message(tmp_path, text, detail):
    p = text_file(tmp_path, text)
    assert message(datafiles.read_csv, p) == f"{p}: {detail}"


LABEL_BAD = [
    ("name-no-header", "1,2,0\n", {"label_col": "y"},
     "the label column 'y' is a name, but the file has no header row"),
    ("name-unknown", "a,b,c\n1,2,0\n", {"label_col": "y"}, "no column named 'y'; columns: a, b, c"),
    ("name-unprintable", "a,b\x01,c\n1,2,0\n", {"label_col": "y\n"},
     "no column named 'y\\n'; columns: a, 'b\\x01', c"),
    ("index-high", "1,2,0\n", {"label_col": 3}, "label column 3 is out of range for 3 columns"),
    ("index-low", "1,2,0\n", {"label_col": -4}, "label column -4 is out of range for 3 columns"),
    ("index-str-high", "1,2,0\n", {"label_col": "7"},
     "label column 7 is out of range for 3 columns"),
]


@pytest.mark.parametrize("text, kwargs, detail", [c[1:] for c in LABEL_BAD],
                         ids=[c[0] for c in LABEL_BAD])
def test_a_bad_label_column_is_one_message(tmp_path, text, kwargs, detail):
    p = text_file(tmp_path, text)
    assert message(datafiles.read_csv, p, **kwargs) == f"{p}: {detail}"


def test_long_lines_are_bounded_at_exactly_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles, "MAX_LINE_CHARS", 8)
    p = text_file(tmp_path, "1,2,3,40\n5,6,7,80")  # 8 characters each: read
    X, y, _ = datafiles.read_csv(p)
    np.testing.assert_array_equal(X, [[1, 2, 3], [5, 6, 7]])
    np.testing.assert_array_equal(y, [40, 80])
    p = text_file(tmp_path, "1,2,3,40\r\n5,6,7,80\r\n")
    np.testing.assert_array_equal(datafiles.read_csv(p)[1], [40, 80])
    p = text_file(tmp_path, "1,2,3,40\r5,6,7,80\r")
    np.testing.assert_array_equal(datafiles.read_csv(p)[1], [40, 80])
    p = text_file(tmp_path, "1,2,3,40\n5,6,7,800\n")
    assert message(datafiles.read_csv, p) == f"{p}: line 2 is longer than 8 characters"
    p = text_file(tmp_path, "1,2,3,400")
    assert message(datafiles.read_csv, p) == f"{p}: line 1 is longer than 8 characters"


def test_the_file_size_limit_is_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 12)
    p = text_file(tmp_path, "1,2,0\n3,4,1\n")  # 12 bytes
    np.testing.assert_array_equal(datafiles.read_csv(p)[0], [[1, 2], [3, 4]])
    p = text_file(tmp_path, "1,2,0\n3,4,1\n\n")
    assert message(datafiles.read_csv, p) == (
        f"{p}: 13 bytes; fastnn reads at most 12 from one data file (a quarter of this "
        "machine's memory)")


def test_the_byte_budget_of_a_stream(tmp_path):
    raw = io.BytesIO(b"abcde")
    f = datafiles._Bounded(raw, tmp_path / "p", 5)
    assert f.readable() is True
    buf = bytearray(8)
    assert f.readinto(buf) == 5 and bytes(buf[:5]) == b"abcde"
    assert f.readinto(buf) == 0
    f.close()
    assert raw.closed and f.closed
    with pytest.raises(DataFileError) as info:
        io.BufferedReader(datafiles._Bounded(io.BytesIO(b"abcdef"), tmp_path / "p", 5)).read()
    assert str(info.value) == (f"{tmp_path / 'p'}: larger than 5 bytes, the most fastnn reads "
                               "from one data file (a quarter of this machine's memory)")

    class Failing(io.RawIOBase):
        def readinto(self, b):
            raise OSError(5, "Input/output error")

    with pytest.raises(DataFileError) as info:
        datafiles._Bounded(Failing(), tmp_path / "p", 5).readinto(bytearray(4))
    assert str(info.value) == f"{tmp_path / 'p'}: cannot read it: Input/output error"

    class Nothing(io.RawIOBase):
        def readinto(self, b):
            return None  # a non-blocking source with nothing yet

    assert datafiles._Bounded(Nothing(), tmp_path / "p", 0).readinto(bytearray(4)) == 0


def test_os_errors_name_the_cause(tmp_path):
    p = tmp_path / "f.csv"
    assert str(datafiles._os_error(p, FileNotFoundError(2, "x"))) == f"{p}: no such file"
    p.symlink_to(tmp_path / "missing.csv")
    assert str(datafiles._os_error(p, FileNotFoundError(2, "x"))) == \
        f"{p}: no such file (a symlink to a missing file)"
    assert message(datafiles.read_csv, p) == f"{p}: no such file (a symlink to a missing file)"
    assert str(datafiles._os_error(p, OSError(40, "loop"))) == \
        f"{p}: a symlink loop: the link never reaches a file"
    assert str(datafiles._os_error(p, IsADirectoryError(21, "dir"))) == \
        f"{p}: is a folder, not a data file"
    assert str(datafiles._os_error(p, PermissionError(13, "perm"))) == \
        f"{p}: permission denied: cannot read it"
    assert str(datafiles._os_error(p, OSError(5, "Input/output error"))) == \
        f"{p}: cannot read it: Input/output error"
    assert str(datafiles._os_error(p, OSError("plain words"))) == f"{p}: cannot read it: plain " \
        "words"
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    assert message(datafiles.read_csv, loop) == \
        f"{loop}: a symlink loop: the link never reaches a file"
    assert message(datafiles.read_csv, tmp_path / "none.csv") == \
        f"{tmp_path / 'none.csv'}: no such file"


def test_what_is_not_a_file_is_one_message(tmp_path):
    import socket
    import stat

    assert message(datafiles.read_csv, tmp_path) == f"{tmp_path}: is a folder, not a data file"
    assert message(datafiles.read_csv, "/dev/null") == \
        "/dev/null: is a device, not a data file; give a file or a named pipe"
    assert message(datafiles.read_arrays, "/dev/null/X.npy") == \
        "/dev/null/X.npy: cannot read it: Not a directory"
    sock = tmp_path / "s.csv"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(sock))
        assert message(datafiles.read_csv, sock) == \
            f"{sock}: is a socket, not a data file; give a file or a named pipe"
    finally:
        s.close()
    p = tmp_path / "x"
    assert datafiles._check_mode(p, stat.S_IFREG | 0o644) is False
    assert datafiles._check_mode(p, stat.S_IFIFO | 0o644) is True
    assert str(_raised(datafiles._check_mode, p, stat.S_IFBLK)) == \
        f"{p}: is a device, not a data file; give a file or a named pipe"
    assert str(_raised(datafiles._check_mode, p, stat.S_IFLNK)) == \
        f"{p}: is not a regular file, not a data file; give a file or a named pipe"
    assert message(datafiles.read_csv, "a\0b.csv") == "'a\\x00b.csv': not a valid file name"


def _raised(call, *args):
    with pytest.raises(DataFileError) as info:
        call(*args)
    return info.value


def _fifo_with(tmp_path, name, data: bytes):
    import threading

    p = tmp_path / name
    os.mkfifo(p)

    def feed():
        with open(p, "wb") as f:
            f.write(data)
    t = threading.Thread(target=feed, daemon=True)
    t.start()
    return p, t


def test_fifos_are_read_once(tmp_path, monkeypatch):
    p, t = _fifo_with(tmp_path, "d.csv", b"a,y\n1,0\n2,1\n")
    X, y, names = datafiles.read_csv(p)
    t.join(5)
    np.testing.assert_array_equal(X, [[1], [2]])
    assert names == ["a"]
    buf = io.BytesIO()
    np.savez(buf, X=np.arange(4.0).reshape(2, 2), y=np.array([0, 1]))
    p, t = _fifo_with(tmp_path, "d.npz", buf.getvalue())
    X, y, names = datafiles.read_arrays(p)
    t.join(5)
    np.testing.assert_array_equal(X, [[0, 1], [2, 3]])
    np.testing.assert_array_equal(y, [0, 1])
    # a pipe is bounded by reading, not by its (zero) size
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 10)
    p, t = _fifo_with(tmp_path, "big.csv", b"1,0\n" * 3)
    assert message(datafiles.read_csv, p) == (f"{p}: larger than 10 bytes, the most fastnn "
                                              "reads from one data file (a quarter of this "
                                              "machine's memory)")
    t.join(5)
    p, t = _fifo_with(tmp_path, "ok.csv", b"1,0\n2,1\n")  # 8 bytes
    np.testing.assert_array_equal(datafiles.read_csv(p)[1], [0, 1])
    t.join(5)


# -- .npz and .npy ---------------------------------------------------------------------------------

def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


ARRAYS_BAD = [
    ("complex", {"X": np.ones((2, 2), dtype=complex), "y": np.zeros(2)},
     "array X has dtype complex128; real numbers are needed"),
    ("text", {"X": np.array([["a"]]), "y": np.zeros(1)},
     "array X has dtype <U1; real numbers are needed"),
    ("3d", {"X": np.ones((2, 2, 2)), "y": np.zeros(2)},
     "array X has shape (2, 2, 2); want 1-D or 2-D"),
    ("0d", {"X": np.array(1.0), "y": np.zeros(1)}, "array X has shape (); want 1-D or 2-D"),
    ("empty", {"X": np.ones((0, 2)), "y": np.zeros(0)}, "array X is empty"),
    ("no-columns", {"X": np.ones((3, 0)), "y": np.zeros(3)},
     "array X has shape (3, 0): no columns"),
    ("nan", {"X": np.array([[0.0, 1.0], [2.0, np.nan]]), "y": np.zeros(2)},
     "array X holds NaN or inf at index (1, 1)"),
    ("y-inf", {"X": np.ones((3, 1)), "y": np.array([0.0, 1.0, -np.inf])},
     "array y holds NaN or inf at index (2,)"),
    ("y-2d-wide", {"X": np.ones((3, 1)), "y": np.zeros((3, 2))},
     "labels have shape (3, 2); want one label per row"),
    ("y-3d", {"X": np.ones((3, 1)), "y": np.zeros((3, 1, 1))},
     "array y has shape (3, 1, 1); want 1-D or 2-D"),
    ("y-empty", {"X": np.ones((3, 1)), "y": np.zeros(0)}, "array y is empty"),
    ("rows", {"X": np.ones((3, 1)), "y": np.zeros(4)}, "3 rows of X but 4 labels"),
    ("no-X", {"a": np.ones(2), "b": np.ones(2)}, "no array named 'X' (found: a, b)"),
    ("no-y", {"X": np.ones((2, 1))}, "no array named 'y' (the labels)"),
]


@pytest.mark.parametrize("arrays, detail", [c[1:] for c in ARRAYS_BAD],
                         ids=[c[0] for c in ARRAYS_BAD])
def test_a_bad_npz_is_one_message(tmp_path, arrays, detail):
    p = _npz(tmp_path / "d.npz", **arrays)
    assert message(datafiles.read_arrays, p) == f"{p}: {detail}"


def test_npz_values_and_edges(tmp_path):
    p = tmp_path / "d.NPZ"
    with open(p, "wb") as f:
        np.savez(f, X=np.array([True, False, True]), y=np.array([[2], [3], [2]], dtype=np.uint8))
    X, y, names = datafiles.read_arrays(p)
    assert X.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_array_equal(X, [[1], [0], [1]])
    np.testing.assert_array_equal(y, [2, 3, 2])
    assert y.shape == (3,) and names == ["x0"]
    p = _npz(tmp_path / "u.npz", X=np.arange(6, dtype=np.int16).reshape(3, 2))
    X, y, names = datafiles.read_arrays(p, has_labels=None)
    assert y is None and names == ["x0", "x1"]
    np.testing.assert_array_equal(X, [[0, 1], [2, 3], [4, 5]])
    p = _npz(tmp_path / "l.npz", X=np.ones((2, 1)), y=np.array([1, 0]))
    assert datafiles.read_arrays(p, has_labels=False)[1] is None
    np.testing.assert_array_equal(datafiles.read_arrays(p, has_labels=None)[1], [1, 0])
    p = _npz(tmp_path / "e.npz")
    assert message(datafiles.read_arrays, p) == f"{p}: no array named 'X' (found: none)"
    p = _npz(tmp_path / "q.npz", **{"X\n": np.ones(1)})
    assert message(datafiles.read_arrays, p) == f"{p}: no array named 'X' (found: 'X\\n')"
    with np.errstate(over="ignore"):
        big = np.array([[1.0], [np.finfo(np.longdouble).max]], dtype=np.longdouble)
    if np.finfo(np.longdouble).max > np.finfo(np.float64).max:
        p = _npz(tmp_path / "b.npz", X=big, y=np.zeros(2))
        assert message(datafiles.read_arrays, p) == f"{p}: array X holds NaN or inf at index " \
                                                     "(1, 0)"


def test_npz_members_that_are_not_arrays(tmp_path):
    p = tmp_path / "t.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("X", b"not an array")
    assert message(datafiles.read_arrays, p) == \
        f"{p}: not a readable .npz archive: its X is not a .npy array"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("X.npy", npy(np.ones((2, 1))))
        z.writestr("y", b"text")
    assert message(datafiles.read_arrays, p) == \
        f"{p}: not a readable .npz archive: its y is not a .npy array"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("X.npy", b"\x93NUMPY garbage")
    got = message(datafiles.read_arrays, p)
    assert got.startswith(f"{p}: not a readable .npz archive (") and got.endswith(")")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("X.npy", _object_npy())
    got = message(datafiles.read_arrays, p)
    assert got.startswith(f"{p}: not a readable .npz archive (") and "pickle" in got


MAGIC_BAD = [
    ("d.npz", b"", "the file is empty, not a .npz archive (a zip of .npy arrays)"),
    ("d.npz", b"hello world", "not a .npz archive (a zip of .npy arrays): its first bytes are "
     "b'hell'"),
    ("d.npz", b"PK\x03", "not a .npz archive (a zip of .npy arrays): its first bytes are "
     "b'PK\\x03'"),
    ("X.npy", b"", "the file is empty, not a .npy array"),
    ("X.npy", b"\x93NUMP", "not a .npy array: its first bytes are b'\\x93NUMP'"),
    ("X.npy", b"PK\x05\x06", "not a .npy array: its first bytes are b'PK\\x05\\x06'"),
]


@pytest.mark.parametrize("name, data, detail", MAGIC_BAD, ids=[
    f"{c[0]}-{i}" for i, c in enumerate(MAGIC_BAD)])
def test_first_bytes_are_checked(tmp_path, name, data, detail):
    p = text_file(tmp_path, data, name)
    assert message(datafiles.read_arrays, p, has_labels=False) == f"{p}: {detail}"


def test_an_empty_zip_reads_as_an_archive(tmp_path):
    p = tmp_path / "z.npz"
    with zipfile.ZipFile(p, "w"):
        pass
    assert p.read_bytes()[:4] == b"PK\x05\x06"
    assert message(datafiles.read_arrays, p) == f"{p}: no array named 'X' (found: none)"


def test_npy_pairs(tmp_path):
    for feats, labels in (("X", "y"), ("x", "y"), ("features", "labels"),
                          ("train_X", "train_y"), ("a_x", "a_y"), ("my_features", "my_labels")):
        assert datafiles.labels_path_for(tmp_path / f"{feats}.npy") == tmp_path / f"{labels}.npy"
        assert datafiles.labels_path_for(tmp_path / f"{feats}.NPY") == tmp_path / f"{labels}.NPY"
    for bad_name in ("data.npy", "trainX.npy", "Xs.npy", "myfeatures.npy"):
        assert message(datafiles.labels_path_for, tmp_path / bad_name) == (
            f"{tmp_path / bad_name}: cannot tell where its labels are: name the features file "
            "X.npy, NAME_X.npy or features.npy, with y.npy, NAME_y.npy or labels.npy beside it")
        assert datafiles.labels_path_exists(tmp_path / bad_name) is False
    np.save(tmp_path / "train_X.npy", np.arange(3.0))
    assert datafiles.labels_path_exists(tmp_path / "train_X.npy") is False
    assert message(datafiles.read_arrays, tmp_path / "train_X.npy") == (
        f"{tmp_path / 'train_X.npy'}: its labels file train_y.npy is not beside it")
    X, y, names = datafiles.read_arrays(tmp_path / "train_X.npy", has_labels=None)
    assert y is None and names == ["x0"]
    np.testing.assert_array_equal(X, [[0], [1], [2]])
    np.save(tmp_path / "train_y.npy", np.array([[1], [0], [1]]))
    assert datafiles.labels_path_exists(str(tmp_path / "train_X.npy")) is True
    for has_labels in (True, None):
        X, y, _ = datafiles.read_arrays(tmp_path / "train_X.npy", has_labels=has_labels)
        np.testing.assert_array_equal(y, [1, 0, 1])
    assert datafiles.read_arrays(tmp_path / "train_X.npy", has_labels=False)[1] is None
    # without labels, a features file of any name is read
    np.save(tmp_path / "data.npy", np.ones((2, 2)))
    assert datafiles.read_arrays(tmp_path / "data.npy", has_labels=False)[0].shape == (2, 2)
    (tmp_path / "bad_X.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    got = message(datafiles.read_arrays, tmp_path / "bad_X.npy", has_labels=False)
    assert got.startswith(f"{tmp_path / 'bad_X.npy'}: not a readable .npy array (")
    (tmp_path / "obj_X.npy").write_bytes(_object_npy())
    got = message(datafiles.read_arrays, tmp_path / "obj_X.npy", has_labels=False)
    assert got.startswith(f"{tmp_path / 'obj_X.npy'}: not a readable .npy array (") and \
        "allow_pickle=False" in got
    # a dangling labels symlink counts as there (and is then reported as missing)
    np.save(tmp_path / "s_X.npy", np.ones(2))
    (tmp_path / "s_y.npy").symlink_to(tmp_path / "gone.npy")
    assert message(datafiles.read_arrays, tmp_path / "s_X.npy", has_labels=None) == \
        f"{tmp_path / 's_y.npy'}: no such file (a symlink to a missing file)"


def test_a_npy_read_through_a_fifo(tmp_path):
    p, t = _fifo_with(tmp_path, "X.npy", npy(np.array([[1.0, 2.0]])))
    X, y, _ = datafiles.read_arrays(p, has_labels=False)
    t.join(5)
    np.testing.assert_array_equal(X, [[1, 2]])


# -- labels, datasets, splits, standardizing -------------------------------------------------------

def test_encode_labels_values():
    y, classes = datafiles.encode_labels(np.array([7.0, 3.0, 7.0]))
    assert y.dtype == np.float64 and y.shape == (3, 1)
    np.testing.assert_array_equal(y, [[1], [0], [1]])
    np.testing.assert_array_equal(classes, [3, 7])
    y, classes = datafiles.encode_labels(np.array([2.0, -1.0, 5.0, 2.0]))
    np.testing.assert_array_equal(y, [[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(classes, [-1, 2, 5])
    y, classes = datafiles.encode_labels(np.array([5.0, 5.0]), classes=np.array([1.0, 5.0]))
    np.testing.assert_array_equal(y, [[1], [1]])
    np.testing.assert_array_equal(classes, [1, 5])
    y, _ = datafiles.encode_labels(np.array([3.0]), classes=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(y, [[0, 0, 1]])


def test_encode_labels_messages(monkeypatch):
    enc = datafiles.encode_labels
    assert message(enc, np.array([1.0, 0.5, 2.5])) == (
        "labels: label 0.5 (row 2) is not a whole number: labels are class values such as 0, "
        "1, 2; fastnn classifies, it does not fit real-valued targets")
    assert message(enc, np.array([4.0, 4.0]), "f.csv") == \
        "f.csv: every label is 4: a single class cannot be learned"
    assert message(enc, np.array([1.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0]), "f",
                   np.array([1.0, 2.0])) == \
        "f: labels 4, 5, 6, 7, 8 are not among the model's classes 1, 2"
    monkeypatch.setattr(datafiles, "MAX_CLASSES", 3)
    y, _ = enc(np.array([0.0, 1.0, 2.0]))
    assert y.shape == (3, 3)
    assert message(enc, np.array([0.0, 1.0, 2.0, 3.0]), "f") == (
        "f: 4 different labels; at most 3 classes (is the label column a measurement rather "
        "than a class?)")
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 72)  # 3 rows x 3 classes x 8 bytes
    assert enc(np.array([0.0, 1.0, 2.0]))[0].shape == (3, 3)
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 71)
    assert message(enc, np.array([0.0, 1.0, 2.0]), "f") == \
        "f: one-hot labels of 3 rows x 3 classes need 0.0 GiB; at most 0.0 here"
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 3 * 2**29)
    monkeypatch.setattr(datafiles, "MAX_CLASSES", 2**16)
    labels = np.arange(2.0**16)  # 2**16 classes (the most) of one row each: 32 GiB one-hot
    assert message(enc, labels, "f") == \
        "f: one-hot labels of 65536 rows x 65536 classes need 32.0 GiB; at most 1.5 here"


def test_load_dataset_by_extension(tmp_path, monkeypatch):
    p = text_file(tmp_path, "a,y\n1,5\n2,9\n3,5\n", "d.CSV")
    d = datafiles.load_dataset(p)
    np.testing.assert_array_equal(d.X, [[1], [2], [3]])
    np.testing.assert_array_equal(d.y, [[0], [1], [0]])
    np.testing.assert_array_equal(d.classes, [5, 9])
    assert d.feature_names == ["a"]
    d = datafiles.load_dataset(p, has_labels=False)
    assert d.y is None and d.classes is None and d.feature_names == ["a", "y"]
    d = datafiles.load_dataset(p, has_labels=False, classes=np.array([1.0, 2.0]))
    np.testing.assert_array_equal(d.classes, [1, 2])
    d = datafiles.load_dataset(p, classes=np.array([5.0, 7.0, 9.0]))
    np.testing.assert_array_equal(d.y, [[1, 0, 0], [0, 0, 1], [1, 0, 0]])
    d = datafiles.load_dataset(p, has_labels=None, n_features=1, label_col=None)
    np.testing.assert_array_equal(d.classes, [5, 9])
    d = datafiles.load_dataset(text_file(tmp_path, "1,7,2\n3,8,4\n"), label_col=1)
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(d.classes, [7, 8])
    np.save(tmp_path / "X.npy", np.array([[1.0], [2.0]]))
    np.save(tmp_path / "y.npy", np.array([4, 6]))
    d = datafiles.load_dataset(tmp_path / "X.npy")
    np.testing.assert_array_equal(d.y, [[0], [1]])
    assert d.feature_names == ["x0"]
    assert datafiles.load_dataset(tmp_path / "X.npy", has_labels=None).y.shape == (2, 1)
    p = _npz(tmp_path / "d.npz", X=np.ones((2, 1)), y=np.array([1, 0]))
    np.testing.assert_array_equal(datafiles.load_dataset(p).y, [[1], [0]])
    assert message(datafiles.load_dataset, p, label_col=0) == \
        f"{p}: a label column applies to CSV files only"
    assert message(datafiles.load_dataset, tmp_path / "X.npy", label_col="y") == \
        f"{tmp_path / 'X.npy'}: a label column applies to CSV files only"
    for name, shown in (("d.txt", "'.txt'"), ("data", "'(no extension)'")):
        q = text_file(tmp_path, "1,2\n", name)
        assert message(datafiles.load_dataset, q) == \
            f"{q}: unknown data format {shown}; choose from: .csv, .npz, .npy"

    def no_memory(*args):
        raise MemoryError

    monkeypatch.setattr(datafiles, "read_csv", no_memory)
    monkeypatch.setattr(datafiles, "read_arrays", no_memory)
    for q in (tmp_path / "big.csv", tmp_path / "big.npz"):
        assert message(datafiles.load_dataset, q) == \
            f"{q}: too large to load into this machine's memory"


def test_split_values():
    for n, frac, seed in ((10, 0.3, 1), (7, 0.5, 0), (3, 0.34, 5)):
        order = np.random.default_rng(seed).permutation(n)
        k = int(round(n * frac))
        tr, va = datafiles.split(n, frac, seed)
        np.testing.assert_array_equal(va, np.sort(order[:k]))
        np.testing.assert_array_equal(tr, np.sort(order[k:]))
    assert [len(v) for v in datafiles.split(7, 0.5, 0)] == [3, 4]  # round(3.5) is 4
    for frac in (0, 1, 0.0, -0.1, 1.5):
        with pytest.raises(ValueError) as info:
            datafiles.split(10, frac, 0)
        assert str(info.value) == f"validation split must be in (0, 1), got {frac!r}"
    with pytest.raises(ValueError) as info:
        datafiles.split(10, 0.01, 0)
    assert str(info.value) == ("validation split 0.01 of 10 rows leaves 10 for training and 0 "
                               "for validation; need both > 0")
    with pytest.raises(ValueError) as info:
        datafiles.split(10, 0.99, 0)
    assert str(info.value) == ("validation split 0.99 of 10 rows leaves 0 for training and 10 "
                               "for validation; need both > 0")
    tr, va = datafiles.split(2, 0.5, 0)
    assert len(tr) == len(va) == 1
    tr, va = datafiles.split(20, 0.05, 0)  # one row held out: the smallest split
    assert len(va) == 1 and len(tr) == 19
    tr, va = datafiles.split(20, 0.95, 0)
    assert len(va) == 19 and len(tr) == 1


def test_standardizer_values():
    X = np.array([[1.0, 5.0, -2.0], [3.0, 5.0, 2.0], [5.0, 5.0, 0.0]])
    s = Standardizer.fit(X)
    np.testing.assert_array_equal(s.mean, [3.0, 5.0, 0.0])
    sd = np.sqrt(8 / 3)
    np.testing.assert_allclose(s.std, [sd, 1.0, sd], rtol=1e-15)
    np.testing.assert_allclose(s(X), [[-2 / sd, 0, -2 / sd], [0, 0, 2 / sd],
                                      [2 / sd, 0, 0]], rtol=1e-15)
    with pytest.raises(ValueError) as info:
        s(np.ones((2, 2)))
    assert str(info.value) == "X has 2 features; the standardizer was fitted on 3"


def test_standardizer_of_extreme_columns():
    # squares of 1e200 overflow: the column is scaled by its largest |x| first
    X = np.array([[1e200, 1.0], [3e200, 1.0]])
    s = Standardizer.fit(X)
    np.testing.assert_allclose(s.mean, [2e200, 1.0], rtol=1e-15)
    np.testing.assert_allclose(s.std, [1e200, 1.0], rtol=1e-15)
    np.testing.assert_allclose(s(X), [[-1, 0], [1, 0]], rtol=1e-15)
    # tiny values whose squares underflow to 0: their spread is still found
    X = np.array([[1e-300], [3e-300]])
    s = Standardizer.fit(X)
    np.testing.assert_allclose(s.mean, [2e-300], rtol=1e-15)
    np.testing.assert_allclose(s.std, [1e-300], rtol=1e-15)
    # subnormal spread below the smallest float: the column's scale stands in
    X = np.array([[5e-324], [1e-323]])
    s = Standardizer.fit(X)
    assert s.std[0] == 1e-323 and s.mean[0] == pytest.approx(7.5e-324, abs=5e-324)
    # a column of zeros beside an overflowing one: scale 1, std 1
    X = np.array([[0.0, -1e308], [0.0, 1e308]])
    s = Standardizer.fit(X)
    np.testing.assert_array_equal(s.mean, [0.0, 0.0])
    np.testing.assert_array_equal(s.std, [1.0, 1e308])
    # X - mean overflows: divided first
    s = Standardizer(np.array([-1e308]), np.array([1e308]))
    np.testing.assert_allclose(s(np.array([[1e308]])), [[2.0]], rtol=1e-15)
    s = Standardizer(np.array([0.0, 1.0]), np.array([1.0, 1e-300]))
    with pytest.raises(ValueError) as info:
        s(np.array([[0.0, 1.0], [2.0, 1e300]]))
    assert str(info.value) == ("feature 1 of row 1 (1e+300) is too far from the data the "
                               "standardization was fitted on (mean 1, std 1e-300) to be "
                               "represented")


# -- checkpoint survivors of the first pass --------------------------------------------------------

def test_a_float32_model_wants_float32_slots(tmp_path):
    a = base_arrays()
    a.update({"config": js({**CONFIG, "dtype": "float32"}),
              "params": np.ones(13, dtype=np.float32), "opt.m": np.ones(13, dtype=np.float32)})
    p = write_ckpt(tmp_path / "m.npz", a)  # opt.v stays float64
    assert refused(p) == bad(p, "opt.v must be a float32 array of shape (13,), got a float64 "
                                "array of shape (13,)")
    a["opt.v"] = np.ones(13, dtype=np.float32)
    c = checkpoint.load(write_ckpt(tmp_path / "n.npz", a))
    assert c.optimizer_state["v"].dtype == np.float32


def test_the_float32_footprint_is_what_memory_is_checked_for(tmp_path, monkeypatch):
    from fastnn.nn.layers import layer_from_config
    from fastnn.nn.model import plan
    layers = [{"type": "Dense", "din": 20, "dout": 20}]
    arrays = {**weights_only(), "config": js({"layers": layers, "input_shape": [20],
                                              "dtype": "float32"}),
              "params": np.zeros(420, dtype=np.float32)}
    p = write_ckpt(tmp_path / "f32.npz", arrays)
    footprint = plan([layer_from_config(c) for c in layers], (20,), "float32")[1]
    need = footprint.nbytes() + 1680 + 16 + 4 * len(str(arrays["config"])) + \
        4 * len(str(arrays["meta"]))
    monkeypatch.setattr(memory, "available_bytes", lambda: need)
    assert checkpoint.load(p).model.params.dtype == np.float32
    monkeypatch.setattr(memory, "available_bytes", lambda: need - 1)
    with pytest.raises(memory.MemoryLimitError) as info:
        checkpoint.load(p)
    assert str(info.value).startswith(f"{p}: loading its model of 420 parameters needs ")


def test_a_wide_input_and_an_image_model_load(tmp_path):
    a = weights_only()
    a.update({"config": js({"layers": [{"type": "Dense", "din": 200, "dout": 1}],
                            "input_shape": [200], "dtype": "float64"}),
              "params": np.ones(201)})
    assert checkpoint.load(write_ckpt(tmp_path / "w.npz", a)).model.input_shape == (200,)
    cfg = {"layers": [{"type": "Conv2d", "cin": 1, "cout": 2, "kernel_size": [1, 1],
                       "stride": 1, "padding": 0}], "input_shape": [1, 3, 3],
           "dtype": "float64"}
    a.update({"config": js(cfg), "params": np.arange(4.0)})
    c = checkpoint.load(write_ckpt(tmp_path / "c.npz", a))
    assert c.model.input_shape == (1, 3, 3) and c.model.output_shape == (2, 3, 3)
    np.testing.assert_array_equal(c.model.params, [0, 1, 2, 3])


def test_layers_that_do_not_chain(tmp_path):
    a = weights_only()
    a["config"] = js({**CONFIG, "layers": [LAYERS[0], {"type": "Dense", "din": 5, "dout": 1}]})
    p = write_ckpt(tmp_path / "m.npz", a)
    assert refused(p) == bad(p, "config: layer 1 (Dense(5, 1)) does not fit: Dense(5, 1) takes "
                                "inputs of shape (5,), got (3,)")


def test_an_rng_state_of_zeros_loads(tmp_path):
    a = base_arrays()
    _rng_state(state=0, inc=0)(a)
    _rng(uinteger=0, has_uint32=0)(a)
    c = checkpoint.load(write_ckpt(tmp_path / "m.npz", a))
    assert c.trainer["rng"]["state"] == {"state": 0, "inc": 0}


# -- data-file survivors of the first pass ---------------------------------------------------------

def test_a_file_that_fails_to_open_after_its_check(tmp_path, monkeypatch):
    p = text_file(tmp_path, "1,0\n2,1\n")
    for error, detail in ((FileNotFoundError(2, "gone"), "no such file"),
                          (PermissionError(13, "no"), "permission denied: cannot read it")):
        def fail(*args, error=error, **kwargs):
            raise error
        monkeypatch.setattr(datafiles, "open", fail, raising=False)
        assert message(datafiles.read_csv, p) == f"{p}: {detail}"
    monkeypatch.undo()
    real = os.fstat
    import stat

    def as_folder(fd):
        st = real(fd)
        return os.stat_result((stat.S_IFDIR | 0o755, *tuple(st)[1:]))
    monkeypatch.setattr(os, "fstat", as_folder)
    assert message(datafiles.read_csv, p) == f"{p}: is a folder, not a data file"


def test_csv_survivors(tmp_path, monkeypatch):
    # a quoted cell spanning CRLF lines keeps its CR (newline="" leaves it to the csv module)
    p = text_file(tmp_path, b'1,2,0\r\n3,"x\r\ny",1\r\n')
    assert message(datafiles.read_csv, p) == f"{p}: non-numeric cell 'x\\r\\ny' at line 3, " \
                                             "column 2"
    # a header name that starts with X, given as the label column: a name, not an index
    p = text_file(tmp_path, "X1,b\n1,0\n2,1\n")
    X, y, names = datafiles.read_csv(p, label_col="X1")
    np.testing.assert_array_equal(y, [1, 2])
    assert names == ["b"]
    # a line longer than the limit that ends in any character but a newline
    monkeypatch.setattr(datafiles, "MAX_LINE_CHARS", 8)
    p = text_file(tmp_path, "1,2,3,40X\n")
    assert message(datafiles.read_csv, p) == f"{p}: line 1 is longer than 8 characters"


def test_a_large_npz_pipe_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 10)
    p, t = _fifo_with(tmp_path, "d.npz", b"PK\x03\x04" + b"\0" * 20)
    assert message(datafiles.read_arrays, p) == (f"{p}: larger than 10 bytes, the most fastnn "
                                                 "reads from one data file (a quarter of this "
                                                 "machine's memory)")
    t.join(5)


def test_load_dataset_passes_its_settings_on(tmp_path):
    p = _npz(tmp_path / "d.npz", X=np.array([[1.0], [2.0]]))
    assert message(datafiles.load_dataset, p) == f"{p}: no array named 'y' (the labels)"
    p = _npz(tmp_path / "e.npz", X=np.array([[1.0], [2.0]]), y=np.array([0, 1]))
    d = datafiles.load_dataset(p, has_labels=False)
    assert d.y is None
    np.testing.assert_array_equal(d.X, [[1], [2]])
    p = text_file(tmp_path, "1,4\n2,4\n")
    assert message(datafiles.load_dataset, p) == \
        f"{p}: every label is 4: a single class cannot be learned"
    d = datafiles.load_dataset(p, has_labels=False)
    np.testing.assert_array_equal(d.X, [[1, 4], [2, 4]])


def test_standardizer_fit_survivors():
    s = Standardizer.fit(np.array([[1.0], [2.0], [4.0]], dtype=np.float32) / 3)
    assert s.mean.dtype == np.float64 and s.std.dtype == np.float64
    X = np.array([[0.1], [0.7]])  # the direct formula, bit for bit (no rescaling)
    s = Standardizer.fit(X)
    assert s.mean[0] == X.mean() and s.std[0] == X.std()
    assert s.std[0] != 0.3  # the rescaled formula gives 0.3 exactly; this one does not
    # a constant column below the others' maximum stays constant (std 1)
    s = Standardizer.fit(np.array([[0.5, 2.0], [0.5, 3.0]]))
    np.testing.assert_array_equal(s.mean, [0.5, 2.5])
    np.testing.assert_array_equal(s.std, [1.0, 0.5])
    # each column is rescaled by its own largest |x|
    s = Standardizer.fit(np.array([[1e200, 1.0], [3e200, 2.0]]))
    assert s.mean[1] == 1.5 and s.std[1] == 0.5
