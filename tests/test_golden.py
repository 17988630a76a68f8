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


LAB_NET = [p for p in GOLDEN if p.stem.startswith("lab-net-")]


def test_the_labs_network_has_golden_trajectories():
    assert {p.stem for p in LAB_NET} == {"lab-net-linear-sigmoid-sgd", "lab-net-xor-sigmoid-sgd",
                                         "lab-net-xor-tanh-sgd", "lab-net-xor-relu-sgd"}


@pytest.mark.parametrize("path", LAB_NET, ids=lambda p: p.stem)
def test_lab_net_goldens_start_from_the_labs_weights(path):
    """Each lab-net file describes the lab's network (28 weights drawn by np.random.seed, the
    activation at the output too, the lab's clip, SGD at lr 0.1) and the run starts from the
    legacy draws."""
    cfg, golden = verify.read_golden(path)
    assert (cfg.bias, cfg.rng, cfg.init, cfg.clip) == (False, "legacy", "normal", (-1024, 1023))
    assert cfg.output_activation == cfg.activation and (cfg.optimizer, cfg.lr) == ("sgd", 0.1)
    model, _, _ = verify.build(cfg)
    assert golden["params"].shape == model.params.shape == (28,)
    np.testing.assert_array_equal(
        model.params, np.random.RandomState(cfg.seed).standard_normal(28))
    assert golden["loss"][-1] < golden["loss"][0]  # it trained


def test_a_lab_net_golden_catches_biases_or_the_modern_generator():
    cfg, golden = verify.read_golden(LAB_NET[0])
    for wrong in (replace(cfg, bias=True), replace(cfg, rng="default")):
        with pytest.raises(AssertionError):
            assert_rel_close(verify.run(wrong, "numpy")["loss"], golden["loss"], 1e-10, "loss")


@pytest.mark.parametrize("settings, match", [
    ({"bias": "no"}, "bias must be true or false, got 'no'"),
    ({"rng": "mt"}, "unknown rng 'mt'; choose from: default, legacy"),
    ({"rng": "legacy", "seed": 2**40}, r"seed must be an integer in \[0, 4294967295\]"),
    ({"data": "lab-cnn", "model": "cnn", "bias": False}, "bias applies to MLPs"),
])
def test_bad_model_settings_in_a_config(tmp_path, settings, match):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"data": "xor", **settings}))
    with pytest.raises(ValueError, match=match):
        verify.config_from_json(path)
