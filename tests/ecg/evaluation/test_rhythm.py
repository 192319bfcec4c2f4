"""Rhythm classes on synthetic records of known rhythm and rate, and SNOMED codes of WFDB headers."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.ecg.evaluation.rhythm import (
    agreement,
    classify,
    confusion,
    header_codes,
    heldout_rhythms,
    label_from_codes,
    rhythm_of,
)
from pipeline.ecg.synth.waveforms import EcgSpec, simulate

FS = 500


def lead_ii(spec: EcgSpec, seed: int, fs: int = FS) -> np.ndarray:
    return simulate(spec, fs, np.random.default_rng(seed))["II"].to_numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_af_and_sinus_are_told_apart(seed):
    af = rhythm_of(lead_ii(EcgSpec(heart_rate=85.0, rhythm="af", hr_variability=0.2), seed), FS)
    sinus = rhythm_of(lead_ii(EcgSpec(heart_rate=75.0), seed), FS)
    assert af.label == "af" and af.irregularity > 0.08
    assert sinus.label == "sinus" and sinus.irregularity < 0.08


@pytest.mark.parametrize("rate,label,fs", [(45.0, "brady", 500), (130.0, "tachy", 500), (45.0, "brady", 250),
                                           (130.0, "tachy", 1000)])
def test_rate_classes(rate, label, fs):
    r = rhythm_of(lead_ii(EcgSpec(heart_rate=rate), 4, fs), fs)
    assert r.label == label and abs(r.heart_rate - rate) < 3.0


def test_premature_beats_with_locked_p_waves_are_not_af():
    # bigeminy: RR alternates short/long (irregular), but every P stands 160 ms before its R
    rr = np.tile([0.6, 1.0], 6)
    r = np.cumsum(rr)
    assert classify(r, r - 0.16).label == "sinus"
    assert classify(r).label == "af"  # without P information the RR alone says AF
    rng = np.random.default_rng(0)
    r_af = np.cumsum(rng.lognormal(np.log(0.7), 0.2, 12))
    assert classify(r_af, r_af - rng.uniform(0.05, 0.25, 12)).label == "af"
    assert classify(np.array([1.0, 2.0, 3.0])).label == "other"


def test_header_codes(tmp_path):
    h = tmp_path / "a.hea"
    h.write_text("a 12 500 5000\n# Age: 50\n# Dx: 164889003,59118001\n")
    assert header_codes(h) == ["164889003", "59118001"] and label_from_codes(header_codes(h)) == "af"
    assert label_from_codes(["426177001", "426783006"]) == "brady"
    assert label_from_codes(["426783006"]) == "sinus"
    assert label_from_codes(["164934002"]) is None and label_from_codes([]) is None


def test_heldout_rhythms_reads_wfdb_records(tmp_path):
    import wfdb

    rec = simulate(EcgSpec(heart_rate=88.0, rhythm="af", hr_variability=0.22), FS, np.random.default_rng(7))
    wfdb.wrsamp("r1", fs=FS, units=["mV"] * 12, sig_name=list(rec.columns), p_signal=rec.to_numpy(),
                fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
                comments=["Dx: 164889003"], write_dir=str(tmp_path))
    (tmp_path / "nolabel.hea").write_text("nolabel 0 500 0\n")  # no Dx: skipped, never read
    table = heldout_rhythms(tmp_path)
    assert list(table["record"]) == ["r1"]
    assert table.loc[0, "dx_class"] == "af" and table.loc[0, "true_signal_class"] == "af"


def test_confusion_and_agreement():
    table = confusion(["af", "sinus", "sinus"], ["af", "brady", "sinus"])
    assert table.loc["sinus", "brady"] == 1 and table.to_numpy().sum() == 3
    assert agreement(["af", "sinus"], ["af", "brady"]) == 0.5
