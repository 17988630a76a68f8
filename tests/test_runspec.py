"""The run description: every setting checked once, out-of-range values refused with the flag's
name (exit 2, one line, nothing written), stored settings read back equal."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from fastnn import checkpoint
from fastnn._checks import check_in_range, check_positive
from fastnn.app import runspec, train
from fastnn.app.cli import main
from fastnn.app.runspec import RunSpec, SpecError

HUGE = str(10**23)
#: (flag, extra options it needs, values out of range). Every numeric flag of `fastnn train`.
NUMERIC = [
    ("--epochs", [], [HUGE, "1e30", "-1", "0", "nan", "inf"]),
    ("--hidden", [], [HUGE, str(10**30), "1e30", "-1", "0", "nan", "inf"]),
    ("--n", ["--data", "linear"], [HUGE, "1e30", "-1", "0", "nan", "inf"]),
    ("--batch-size", [], [HUGE, "1e30", "-1", "0", "nan", "inf"]),
    ("--threads", [], [HUGE, "1e30", "-1", "0", "nan", "inf"]),
    ("--log-every", [], [HUGE, "1e30", "-1", "0", "nan", "inf"]),
    ("--checkpoint-every", [], [HUGE, "1e30", "-1", "0", "nan", "inf"]),
    ("--seed", [], [HUGE, str(2**63), "1e30", "-1", "nan", "inf"]),
    ("--lr", [], [HUGE, "1e30", "1e308", "-1", "0", "nan", "inf"]),
    ("--val-split", ["--data", "linear"], [HUGE, "1e30", "-1", "0", "1", "nan", "inf"]),
    ("--target-acc", [], [HUGE, "1e30", "-1", "0", "1.5", "nan", "inf"]),
    ("--clip", [], ["-1", "0", "nan", "inf", "-inf"]),
]
CASES = [(f, extra, v) for f, extra, values in NUMERIC for v in values]


@pytest.fixture
def no_data(monkeypatch):
    """Fail at once if a setting slipped through to the data (instead of training for ages)."""
    def load_task(spec):
        raise AssertionError(f"not refused: {spec}")
    monkeypatch.setattr(train, "load_task", load_task)


def run_main(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_naming(err, name):
    assert err.startswith("fastnn: error: ") and err.count("\n") == 1, err
    assert name in err and "Traceback" not in err, err


@pytest.mark.parametrize("flag, extra, value", CASES, ids=[f"{f} {v}" for f, _, v in CASES])
def test_out_of_range_numbers_are_refused(tmp_path, capsys, no_data, flag, extra, value):
    out = tmp_path / "new" / "run"
    code, stdout, err = run_main(["train", *extra, flag, value, "--out", str(out)], capsys)
    assert code == 2 and stdout == ""
    assert_one_line_naming(err, flag)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("argv, flag", [
    (["--clip", "1", "1"], "--clip"),
    (["--clip", "2", "-2"], "--clip"),
    (["--clip", "nan", "1"], "--clip"),
    (["--hidden", "65536", "65536"], "--hidden"),
    (["--hidden", *["2"] * (runspec.MAX_LAYERS + 1)], "--hidden"),
])
def test_bad_combinations_are_refused(tmp_path, capsys, no_data, argv, flag):
    code, _, err = run_main(["train", *argv, "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert_one_line_naming(err, flag)
    assert not (tmp_path / "run").exists()


BOUNDS = [("epochs", 1, runspec.MAX_EPOCHS), ("log_every", 1, runspec.MAX_EPOCHS),
          ("checkpoint_every", 1, runspec.MAX_EPOCHS), ("n", 1, runspec.MAX_N),
          ("batch_size", 1, runspec.MAX_BATCH_SIZE), ("seed", 0, runspec.MAX_SEED)]


@pytest.mark.parametrize("field, lo, hi", BOUNDS, ids=[b[0] for b in BOUNDS])
def test_integer_bounds_are_exact(field, lo, hi):
    extra = {"data": "linear"} if field == "n" else {}
    assert getattr(RunSpec(**extra, **{field: lo}), field) == lo
    assert getattr(RunSpec(**extra, **{field: hi}), field) == hi
    for bad in (lo - 1, hi + 1, float(lo), True):
        with pytest.raises(SpecError, match=f"^{runspec.flag(field)} must be an integer in "):
            RunSpec(**extra, **{field: bad})


def test_float_bounds():
    assert RunSpec(lr=runspec.MAX_LR).lr == runspec.MAX_LR
    assert RunSpec(target_acc=1).target_acc == 1.0
    for field, bad in (("lr", math.nextafter(runspec.MAX_LR, math.inf)), ("lr", 0),
                       ("target_acc", 0), ("target_acc", 1 + 1e-12)):
        with pytest.raises(SpecError, match=f"^{runspec.flag(field)} must be a number in"):
            RunSpec(**{field: bad})
    assert RunSpec(clip=1e300).clip == (1e300,)  # any finite C is a (loose) clip


def test_kind_defaults_and_normalization(tmp_path):
    toy, digits = RunSpec(), RunSpec(data="digits")
    assert (toy.n, toy.hidden, toy.lr, toy.epochs, toy.init, toy.seed) == \
        (None, (4, 4), 1.0, 20_000, "normal", 2)  # XOR-easy: a fixed grid, no size
    assert RunSpec(data="linear").n == 100
    assert (digits.hidden, digits.optimizer, digits.batch_size, digits.loss) == \
        ((64,), "adam", 64, "softmax_cross_entropy")
    f = RunSpec(data=str(tmp_path / "d.csv"), hidden=[8], clip=[-1, 2], lr=1)
    assert f.kind == "file" and f.standardize and f.loss is None and f.output_activation is None
    assert f.hidden == (8,) and f.clip == (-1.0, 2.0) and isinstance(f.lr, float)
    assert f.clip_bounds == (-1.0, 2.0) and RunSpec(clip=3).clip_bounds == 3.0
    with pytest.raises(SpecError, match="^--loss is needed for 'xor'"):
        RunSpec(loss=None)


def test_stored_settings_round_trip(tmp_path):
    specs = [RunSpec(), RunSpec(data="digits", model="cnn", threads=1, log_every=3),
             RunSpec(data=str(tmp_path / "x.npz"), clip=(-1, 2), val_split=0.25, label_col="y",
                     output_activation="sigmoid", loss="bce", seed=2**63 - 1, out="o"),
             RunSpec(data="linear", fresh_data=True, target_acc=0.5, clip=0.5, quiet=True)]
    for spec in specs:
        stored = json.loads(json.dumps(spec.to_dict()))
        assert stored["kind"] == spec.kind
        assert RunSpec.from_dict(stored) == spec


def test_checkpoint_meta_round_trip_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", "linear", "--n", "30", "--clip", "0.5", "--batch-size", "8",
            "--optimizer", "adam", "--lr", "0.01", "--epochs", "4", "--seed", "7",
            "--val-split", "0.2", "--quiet", "--out", str(out)]
    assert run_main(argv, capsys)[0] == 0
    expected = RunSpec(data="linear", n=30, clip=(0.5,), batch_size=8, optimizer="adam", lr=0.01,
                       epochs=4, seed=7, val_split=0.2, quiet=True, out=str(out))
    stored = RunSpec.from_dict(checkpoint.load(out / "model.npz").meta["spec"])
    assert stored == expected
    config = json.loads((out / "config.json").read_text())
    assert {k: config[k] for k in expected.to_dict()} == expected.to_dict()
    # a resumed run takes the stored settings and the new total of epochs, checked the same way
    code, _, err = run_main(["train", "--resume", str(out), "--epochs", HUGE], capsys)
    assert code == 2
    assert_one_line_naming(err, "--epochs must be an integer in")
    code, _, err = run_main(["train", "--resume", str(out), "--lr", "0.5"], capsys)
    assert code == 2 and "--lr 0.5 differs from the resumed run's 0.01" in err
    assert run_main(["train", "--resume", str(out), "--epochs", "6", "--log-every", "3"],
                    capsys)[0] == 0
    resumed = RunSpec.from_dict(checkpoint.load(out / "model.npz").meta["spec"])
    assert resumed == replace(expected, epochs=6, log_every=3)


def test_config_json_keeps_its_keys(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main(["train", "--epochs", "3", "--quiet", "--out", str(out)], capsys)[0] == 0
    config = json.loads((out / "config.json").read_text())
    before = {"data", "model", "backend", "seed", "dtype", "val_split", "label_col", "n",
              "hidden", "activation", "output_activation", "optimizer", "lr", "epochs", "loss",
              "init", "batch_size", "kind", "standardize", "fresh_data", "quiet", "out",
              "sizes", "architecture", "optimizer_hyperparams", "fastnn", "n_train",
              "epochs_run", "stopped_early", "final_loss", "final_accuracy", "seconds"}
    assert before <= set(config)
    assert config["kind"] == "toy" and config["hidden"] == [4, 4]
    assert config["sizes"] == [2, 4, 4, 1]


WRONG_TYPES = [("epochs", "300"), ("epochs", 3.5), ("epochs", True), ("epochs", 10**23),
               ("lr", "0.1"), ("lr", False), ("lr", float("nan")), ("seed", 2.0), ("seed", -1),
               ("hidden", [4.0]), ("hidden", "4 4"), ("hidden", [10**30]), ("activation", 3),
               ("name", 5), ("model", None)]


@pytest.mark.parametrize("key, value", WRONG_TYPES, ids=[f"{k}={v!r}" for k, v in WRONG_TYPES])
def test_verify_config_with_a_wrong_value_names_the_key(tmp_path, capsys, key, value):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"data": "linear", "epochs": 5, key: value}))
    code, stdout, err = run_main(["verify", "--config", str(path), "--backends", "numpy"],
                                 capsys)
    assert code == 2 and stdout == ""
    assert_one_line_naming(err, f"fastnn: error: config {str(path)!r}: {key}")


def test_verify_config_defaults_are_verifys(tmp_path):
    from fastnn.app import verify

    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"data": "linear"}))
    cfg = verify.config_from_json(path)
    assert (cfg.name, cfg.epochs, cfg.hidden, cfg.lr) == ("mine", 300, (4, 4), 1.0)


@pytest.mark.parametrize("argv, name", [
    (["verify", "--dtype", "float16"], "--dtype: unknown dtype 'float16'"),
    (["verify", "--backends", "gpu"], "--backends: unknown backend 'gpu'"),
    (["predict", "--model", "m.npz", "--data", "xor", "--backend", "gpu"],
     "--backend: unknown backend 'gpu'"),
    (["predict", "--model", "m.npz", "--data", "xor", "--label-col", "y"],
     "--label-col applies to data files only"),
    (["predict", "--model", "m.npz", "--data", "digits"], "predict takes a data file"),
    (["report", "lab1", "--epochs", HUGE], "--epochs must be an integer in"),
    (["report", "lab1", "--epochs", "0"], "--epochs must be an integer in"),
    (["report", "lab1", "--backend", "gpu"], "--backend: unknown backend 'gpu'"),
    (["train", "--data", "lab-cnn", "--model", "cnn"], "--data: unknown data set 'lab-cnn'"),
])
def test_other_commands_check_settings_the_same_way(tmp_path, capsys, argv, name):
    out = [] if argv[0] == "verify" else ["--out", str(tmp_path / "new" / "x")]
    code, _, err = run_main([*argv, *out], capsys)
    assert code == 2
    assert_one_line_naming(err, name)
    assert not (tmp_path / "new").exists()


def test_range_helpers():
    assert check_in_range("k", 10**30, 0, 10**31, integer=True) == 10**30
    assert check_positive("k", 10**23, integer=True) == 10**23  # no TypeError from NumPy
    assert check_in_range("k", np.float32(0.5), 0, 1, lo_open=True, hi_open=True) == 0.5
    for bad, kw in ((True, {}), (1.0, {"integer": True}), (math.inf, {}), (math.nan, {}),
                    (0, {"lo_open": True}), (1, {"hi_open": True}), ("1", {})):
        with pytest.raises(ValueError, match="^k must be an? (integer|number) in "):
            check_in_range("k", bad, 0, 1, **kw)
