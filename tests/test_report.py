"""`fastnn report lab1`: every experiment runs and lands in REPORT.md with its figures."""

import re

from fastnn.app import report


def test_lab1_report_short(tmp_path):
    path = report.lab1(tmp_path, backend="numpy", epochs=60)
    text = path.read_text()
    for exp in report.EXPERIMENTS:
        assert f"## {exp.title}" in text
        for run in exp.runs:
            assert f"| {run.label} | linear |" in text
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 2 * (2 * len(report.EXPERIMENTS) - 1)  # fresh data: linear only
    for name in images:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert "on the `numpy` backend" in text and "for 60 epochs" in text


def test_experiment_settings_follow_the_lab():
    lrs = [r.lr for r in report.EXPERIMENTS[0].runs]
    assert lrs == [1.0, 0.1, 0.01]
    hidden = [r.hidden for r in report.EXPERIMENTS[1].runs]
    assert hidden == [(2, 2), (4, 4), (8, 8), (16, 16)]
    opts = [r.optimizer for r in report.EXPERIMENTS[3].runs]
    assert opts == ["sgd", "momentum", "adagrad", "rmsprop", "adam"]
