"""The development-set loader and scorer on a tiny fake shared folder made with our own renderer."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.ecg.evaluation.devsets import list_pages, score_pages
from pipeline.ecg.evaluation.metric import score_frames, score_ratios
from pipeline.ecg.layout import LEADS, lead_window
from pipeline.ecg.synth import render


def _truth(record: pd.DataFrame, fs: int) -> pd.DataFrame:
    """A train-CSV-like truth: NaN outside each lead's window."""
    out = pd.DataFrame(np.nan, index=record.index, columns=list(LEADS))
    for lead in LEADS:
        a, b = lead_window(fs, lead)
        out.loc[a:b - 1, lead] = record[lead].to_numpy()[a:b]
    return out


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    fs = 250
    record = render.simulate_record(fs, np.random.default_rng(3))
    page = render.render_page(record, fs, np.random.default_rng(4))
    image = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
    real = root / "heldout" / "kaggle-real" / "123"
    real.mkdir(parents=True)
    cv2.imwrite(str(real / "123-0001.png"), image)
    _truth(record, fs).to_csv(real / "123.csv", index=False)
    (real / "train.csv").write_text(f"id,fs,sig_len\n123,{fs},{fs * 10}\n")
    kit = root / "ecgkit-dev"
    kit.mkdir()
    cv2.imwrite(str(kit / "simA-clean.png"), image)
    _truth(record, fs).to_csv(kit / "simA-clean.csv", index=False)
    pd.DataFrame([{"name": "simA-clean", "record": "simA", "variant": "clean", "fs": fs, "width": 2200,
                   "height": 1700, "image": "simA-clean.png", "options": "{}"},
                  {"name": "simA-aug", "record": "simA", "variant": "aug", "fs": fs, "width": 2200,
                   "height": 1700, "image": "simA-aug.jpg", "options": "{}"}]).to_csv(kit / "index.csv", index=False)
    return root, record, fs


def test_list_pages_finds_each_set_and_skips_absent_ones(shared, capsys):
    root, _, fs = shared
    pages = list_pages(shared=root, kitreal=root / "no-kitreal")
    assert [(p.set, p.page, p.fs) for p in pages] == [("kaggle-real", "123-0001", fs),
                                                      ("ecgkit-clean", "simA-clean", fs)]
    out = capsys.readouterr().out
    assert "ecgkit-aug skipped" in out and "paired-images skipped" in out
    assert f"kitreal-clean skipped ({root / 'no-kitreal'} not found)" in out and "kitreal-aug skipped" in out
    truth = pages[0].truth()
    assert list(truth.columns) == list(LEADS) and truth["II"].notna().all()
    assert truth["V1"].notna().sum() == fs * 10 // 4
    with pytest.raises(ValueError):
        list_pages(["nope"], shared=root)


def test_kitreal_sets_read_a_folder_in_ecgkit_dev_format(shared, tmp_path, capsys, monkeypatch):
    root, record, fs = shared
    kitreal = tmp_path / "kitreal"
    kitreal.mkdir()
    assert list_pages(["kitreal-clean", "kitreal-aug"], root, kitreal) == []  # made but not indexed yet
    assert "kitreal-clean skipped (no pages with truth under" in capsys.readouterr().out
    image = (root / "ecgkit-dev" / "simA-clean.png").read_bytes()
    for name, suffix in (("r1-clean", "png"), ("r1-aug", "jpg"), ("r2-clean", "png")):
        (kitreal / f"{name}.{suffix}").write_bytes(image)
        _truth(record, fs).to_csv(kitreal / f"{name}.csv", index=False)
    pd.DataFrame([{"name": n, "record": n[:2], "variant": n[3:], "fs": fs, "width": 2200, "height": 1700,
                   "image": f"{n}.{'png' if n.endswith('clean') else 'jpg'}", "options": "{}"}
                  for n in ("r1-clean", "r1-aug", "r2-clean", "r2-aug")]).to_csv(kitreal / "index.csv", index=False)
    pages = list_pages(["ecgkit-clean", "kitreal-clean", "kitreal-aug"], root, kitreal)
    assert [(p.set, p.page) for p in pages] == [("ecgkit-clean", "simA-clean"), ("kitreal-clean", "r1-clean"),
                                                ("kitreal-clean", "r2-clean"), ("kitreal-aug", "r1-aug")]
    assert pages[2].image == kitreal / "r2-clean.png" and pages[3].fs == fs  # r2-aug: no image, left out
    assert pages[3].truth()["V1"].notna().sum() == fs * 10 // 4
    # The default folder is work/ecg/kitreal.
    monkeypatch.setenv("PIPELINE_WORK", str(tmp_path))
    (tmp_path / "ecg").mkdir()
    kitreal.rename(tmp_path / "ecg" / "kitreal")
    assert len(list_pages(["kitreal-clean"], root)) == 2


def test_score_pages_scores_as_the_metric(shared):
    root, record, fs = shared
    pages = list_pages(["kaggle-real", "ecgkit-clean"], shared=root)
    exact = score_pages(pages, digitize=lambda image, fs_, cfg: _truth(record, fs_))
    assert (exact.per_page["snr_db"] == 60.0).all()  # capped ratio 1e6
    assert list(exact.per_set["set"]) == ["kaggle-real", "ecgkit-clean"]
    assert len(exact.per_lead) == 2 * len(LEADS)
    assert set(exact.per_lead.columns) == {"set", "page", "lead", "snr_db", "lag", "phase", "gain", "offset",
                                           "steep_share", "edge_share"}
    assert np.allclose(exact.per_lead["gain"], 1.0) and (exact.per_lead["lag"] == 0).all()

    def half(image, fs_, cfg):  # every lead at half amplitude
        return _truth(record, fs_) * 0.5
    halved = score_pages(pages, digitize=half)
    expected = score_frames({"a": _truth(record, fs)}, {"a": _truth(record, fs) * 0.5}, {"a": fs})
    assert np.allclose(halved.per_page["snr_db"], expected.snr_db) and 5.0 < expected.snr_db < 10.0
    assert np.isclose(halved.per_set["snr_db"].iloc[0], score_ratios(halved.per_page["ratio"].iloc[:1]))
    # The real digitizer on our own clean render.
    real = score_pages(pages[:1])
    assert real.per_page["snr_db"].iloc[0] > 15.0
    assert abs(real.per_set["snr_db"].iloc[0] - real.per_page["snr_db"].iloc[0]) < 1e-9


def test_doubt_ranking_is_the_spearman_correlation_with_the_page_snr() -> None:
    from pipeline.ecg.evaluation.devsets import doubt_ranking

    pages = pd.DataFrame({"snr_db": [20.0, 10.0, 5.0, -3.0, 15.0], "doubt": [0.01, 0.2, 0.3, 0.9, np.nan]})
    rho, n = doubt_ranking(pages)
    assert n == 4 and rho == -1.0
    assert np.isnan(doubt_ranking(pages.head(2))[0])
    # No development set on this machine: score_pages' frame is empty, its columns of object dtype.
    none = pd.DataFrame(columns=["set", "page", "fs", "snr_db", "ratio", "doubt"])
    rho, n = doubt_ranking(none)
    assert np.isnan(rho) and n == 0
