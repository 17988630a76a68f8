"""Every backend against the golden trajectories in tests/golden/ (written by the reference
backend; regenerate deliberately with
``python -m fastnn.app.verify --write-golden tests/golden``)."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_rel_close

import fastnn
from fastnn.app import verify

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.npz"))
#: float32 runs follow the float64 golden trajectory only loosely: rounding at 6e-8 per step
#: compounds over hundreds of epochs. Documented in the README.
F32_LOSS_RTOL = 2e-3


def test_every_config_has_a_golden_file():
    assert {p.stem for p in GOLDEN} == set(verify.CONFIGS)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_stored_config_is_todays_configuration(path):
    """Each file was written for today's configuration: the stored JSON is, byte for byte,
    what write_golden would store for it now, and reading it back gives that configuration."""
    with np.load(path, allow_pickle=False) as f:
        stored = str(f["config"])
    today = verify.CONFIGS[path.stem]
    assert list(json.loads(stored)) == list(verify.CONFIG_KEYS)
    assert stored == json.dumps(verify.golden_config(today))
    assert verify.read_golden(path)[0] == today


@pytest.mark.parametrize("backend", fastnn.available_backends())
@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_float64_matches_golden(path, backend):
    cfg, golden = verify.read_golden(path)
    # the file was written for today's configuration (on the keys it stores)
    assert verify.golden_config(cfg) == verify.golden_config(verify.CONFIGS[path.stem])
    result = verify.run(cfg, backend)
    assert len(result["loss"]) == cfg.epochs
    assert_rel_close(result["loss"], golden["loss"], 1e-10, "losses")
    assert_rel_close(result["params"], golden["params"], 1e-10, "weights")


@pytest.mark.parametrize("backend", [b for b in fastnn.available_backends() if b != "reference"])
@pytest.mark.parametrize("path", [p for p in GOLDEN if p.stem.startswith("xor")],
                         ids=lambda p: p.stem)
def test_float32_follows_golden(path, backend):
    cfg, golden = verify.read_golden(path)
    result = verify.run(cfg, backend, dtype="float32")
    assert_rel_close(result["loss"], golden["loss"], F32_LOSS_RTOL, "float32 losses")


def test_reference_reproduces_the_golden_weights_bitwise():
    """The reference backend wrote the golden files: its weights are still those, to the bit
    (the per-epoch losses may differ in the last bit since the loss is summed with np.sum)."""
    for path in GOLDEN:
        cfg, golden = verify.read_golden(path)
        np.testing.assert_array_equal(verify.run(cfg, "reference")["params"], golden["params"])


def test_golden_catches_a_wrong_result():
    """The comparison is not vacuous: a one-ulp-per-epoch drift in the lr is caught."""
    cfg, golden = verify.read_golden(GOLDEN[0])
    wrong = verify.run(replace(cfg, lr=cfg.lr * (1 + 1e-9)), "numpy")
    with pytest.raises(AssertionError):
        assert_rel_close(wrong["params"], golden["params"], 1e-10, "weights")
    assert np.isfinite(wrong["loss"]).all()
