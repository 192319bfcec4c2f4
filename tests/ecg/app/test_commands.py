"""The digitize command with --beats and --report on one rendered page; kit-pages' and kit-twins' errors."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.ecg.synth.waveforms import EcgSpec, simulate

render = pytest.importorskip("pipeline.ecg.synth.render")


def test_digitize_beats_and_report(tmp_path, capsys):
    fs = 250
    record = simulate(EcgSpec(heart_rate=130.0), fs, np.random.default_rng(5))
    page = render.render_page(record, fs, np.random.default_rng(6))
    image = tmp_path / "page.png"
    cv2.imwrite(str(image), cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    assert main(["ecg", "digitize", str(image), "--out", str(out), "--fs", str(fs), "--beats", "--report"]) == 0
    printed = capsys.readouterr().out
    assert "rhythm tachy" in printed
    beats = pd.read_csv(out / "page.beats.csv")
    ii = beats[beats["lead"] == "II"]
    assert 19 <= len(ii) <= 24 and ii["QRS_onset"].notna().mean() > 0.8  # 130 bpm over 10 s
    report = (out / "page.report.md").read_text()
    assert "## Doubts" in report and "page.overlay.png" in report
    overlay = cv2.imread(str(out / "page.overlay.png"))
    assert overlay is not None and overlay.shape[0] > 100


def test_kit_pages_without_the_kit_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ecg", "kit-pages", "--kit-python", sys.executable])
    assert exit_.value.code == 2 and "--kit" in capsys.readouterr().err
    out = tmp_path / "kitreal"
    assert main(["ecg", "kit-pages", "--kit", str(tmp_path / "nokit"), "--kit-python", sys.executable,
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "nokit") in err[0] and "gen_ecg_image_from_data.py" in err[0]
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "gen_ecg_image_from_data.py").write_text("")
    assert main(["ecg", "kit-pages", "--kit", str(kit), "--kit-python", str(tmp_path / "py"), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "py") in err[0] and "not found" in err[0]
    assert not out.exists()


def test_kit_twins_without_the_kitreal_set_is_one_clear_line(tmp_path, capsys):
    assert main(["ecg", "kit-twins", "--kitreal", str(tmp_path / "none"), "--out", str(tmp_path / "twins")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "none") in err[0] and "kit-pages" in err[0]
