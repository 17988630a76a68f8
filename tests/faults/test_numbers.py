"""Class 2, numbers out of range: every numeric flag of every command, and every number of a
``verify --config`` file, refuses huge integers, 1e30 where an integer is wanted, negative,
zero, NaN and inf values in one line naming the flag (or key), exit 2, before any work."""

from __future__ import annotations

import json

import pytest

from .conftest import assert_error, cli

HUGE = str(10**30)
HUGER = "9" * 5000  # beyond Python's int-from-string digit limit (4300)

#: (flag, bad values) of ``fastnn train``: integers, then numbers.
TRAIN_INT_FLAGS = {
    "--epochs": ["0", "-1", HUGE, HUGER, "1e30", "3.0", "100000001", "nan"],
    "--n": ["0", "-5", HUGE, "1e30", "10000001"],
    "--seed": ["-1", str(2**63), HUGE, HUGER, "1e30", "1.5"],
    "--batch-size": ["0", "-1", HUGE, "1e30", "1000000001"],
    "--log-every": ["0", "-1", HUGE, "1e30", "100000001"],
    "--checkpoint-every": ["0", "-1", HUGE, "1e30"],
    "--threads": ["0", "-1", HUGE, HUGER, "1e30", "100000"],
    "--test-seed": ["-1", str(2**63), HUGE, HUGER, "1e30", "1.5"],
    "--hidden": ["0", "-1", HUGE, "1e30", "65537"],
}
TRAIN_FLOAT_FLAGS = {
    "--lr": ["0", "-0.1", "nan", "inf", "-inf", "1e30", "1e400", "1e6000"],
    "--target-acc": ["0", "-0.5", "1.5", "nan", "inf", "1e30"],
    "--val-split": ["0", "1", "-0.2", "nan", "inf", "1e30"],
    "--clip": ["0", "-1", "nan", "inf", "1e400"],
}
CASES = [(["train", flag, value], flag) for flag, values in
         {**TRAIN_INT_FLAGS, **TRAIN_FLOAT_FLAGS}.items() for value in values]
CASES += [
    (["train", "--data", "linear", "--n", "1e30"], "--n"),
    (["train", "--lab", "--seed", str(2**32)], "--seed"),
    (["train", "--rng", "legacy", "--seed", HUGE], "--seed"),
    (["train", "--hidden", "4", HUGE], "--hidden"),
    (["train", "--hidden", *["2"] * 101], "--hidden"),
    (["train", "--hidden", "65536", "65536"], "--hidden"),
    (["train", "--clip", "1e308", "1e308"], "--clip"),
    (["train", "--clip", "-1e400", "1"], "--clip"),
    (["train", "--clip", "1", "2", "3"], "--clip"),
    (["train", "--val-split", "0.999999", "--data", "linear", "--n", "10"], "validation split"),
    (["report", "lab1", "--epochs", "0"], "--epochs"),
    (["report", "lab1", "--epochs", HUGE], "--epochs"),
    (["report", "lab1", "--epochs", "1e30"], "--epochs"),
    (["report", "lab1", "--epochs", "-3"], "--epochs"),
    (["bench", "--threshold", "nan"], "--threshold"),
    (["bench", "--threshold", "inf"], "--threshold"),
    (["bench", "--threshold", "-1"], "--threshold"),
    (["bench", "--threshold", "0"], "--threshold"),
    (["bench", "--threshold", "1e30"], "--threshold"),
    (["bench", "--threshold", HUGER], "--threshold"),
    (["predict", "--model", "m.npz", "--data", "xor", "--label-col", HUGE], "--label-col"),
    (["predict", "--model", "m.npz", "--data", "xor", "--label-col", HUGER], "--label-col"),
]


def _id(case):
    argv, _ = case
    return " ".join(a if len(a) < 20 else a[:6] + "..." for a in argv)


@pytest.mark.parametrize("argv, needle", CASES, ids=[_id(c) for c in CASES])
def test_a_number_out_of_range_is_one_line_naming_the_flag(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    result = cli([*argv, "--out", out] if argv[0] != "predict" else argv, capsys)
    assert_error(result, 2, needle)
    assert not out.exists()


#: verify --config FILE.json: (key, bad JSON value as text)
CONFIG_VALUES = [
    ("epochs", "1e30"), ("epochs", HUGE), ("epochs", "0"), ("epochs", "-1"), ("epochs", "3.0"),
    ("epochs", "true"), ("epochs", '"10"'), ("epochs", "NaN"), ("epochs", "Infinity"),
    ("lr", "NaN"), ("lr", "Infinity"), ("lr", "-Infinity"), ("lr", "1e999"), ("lr", "0"),
    ("lr", "-1"), ("lr", "1e30"), ("lr", "true"), ("lr", "null"), ("lr", "[1]"),
    ("seed", "-1"), ("seed", str(2**64)), ("seed", "1e30"), ("seed", "2.5"), ("seed", "false"),
    ("hidden", "[1e30]"), ("hidden", f"[{HUGE}]"), ("hidden", "[0]"), ("hidden", "[-4]"),
    ("hidden", "4"), ("hidden", "[4.0]"), ("hidden", "[true]"), ("hidden", '"4 4"'),
    ("hidden", "[" + ",".join(["2"] * 101) + "]"), ("hidden", "[[4]]"), ("hidden", "{}"),
    ("name", "12"), ("data", "12"), ("activation", "1e30"), ("loss", "null"),
]


@pytest.mark.parametrize("key, value", CONFIG_VALUES,
                         ids=[f"{k}={v[:12]}" for k, v in CONFIG_VALUES])
def test_a_config_number_out_of_range_is_one_line_naming_the_key(tmp_path, capsys, key, value):
    path = tmp_path / "c.json"
    path.write_text(f'{{"data": "xor", "{key}": {value}}}' if key != "data"
                    else f'{{"{key}": {value}}}')
    assert_error(cli(["verify", "--config", path], capsys), 2, "c.json", key)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "1" * 5000, "{}" * 3, "",
                                  '{"epochs": 1' + "0" * 5000 + "}", "\x00", "[]"])
def test_a_config_file_that_is_no_object_is_one_line(tmp_path, capsys, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    assert_error(cli(["verify", "--config", path], capsys), 2, "c.json")


def test_stored_settings_are_checked_like_flags(tmp_path, capsys):
    """A resumed run's stored settings go through the same checks: a checkpoint whose spec
    holds an out-of-range number is refused in one line."""
    import numpy as np

    out = tmp_path / "run"
    assert cli(["train", "--epochs", "3", "--quiet", "--out", out], capsys).code == 0
    path = out / "model.npz"
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    key = next(k for k in arrays if arrays[k].dtype.kind == "U" and "spec" in str(arrays[k]))
    meta = json.loads(str(arrays[key]))
    target = meta if "spec" in meta else meta.get("meta", {})
    target["spec"]["lr"] = 1e30
    arrays[key] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    result = cli(["train", "--resume", out, "--epochs", "6"], capsys)
    assert_error(result, 2, "lr")
