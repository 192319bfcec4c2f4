"""kitreal: the records given to ecg-image-kit, its pages in ecgkit-dev's format, and the whole command on a
fake kit (the real one is not needed: a stand-in gen_ecg_image_from_data.py and imgaug in a folder)."""

from __future__ import annotations

import csv
import gzip
import json
import sys
import textwrap

import numpy as np
import pytest
import wfdb

from pipeline.core.errors import PipelineError
from pipeline.ecg.evaluation import kit_pages
from pipeline.ecg.evaluation.kit_pages import (
    SourceRecord,
    demographics,
    index_row,
    kit_signals,
    list_records,
    make_kit_pages,
    page_jobs,
    prepare_records,
    read_kit_signals,
    truth_csv,
    write_kit_record,
)
from pipeline.ecg.layout import LEADS

ODD_NAMES = ["v6", "AVF", "avr", "I", "ii", "III", "aVL", "V1", "v2", "V3", "V4", "V5", "vx"]
"""The 12 leads in an odd order and case (as MUSE and PTB name them), plus a Frank lead to drop."""


def _source(folder, name="rec1", fs=250, seconds=12, names=ODD_NAMES, seed=0):
    """A WFDB record at 0.1 uV resolution; returns (header path, digital values by lower-case lead name)."""
    rng = np.random.default_rng(seed)
    d = rng.integers(-20000, 20000, size=(int(fs * seconds), len(names))).astype(np.int16)
    d[np.abs(d) % 10 == 5] += 1  # no exact half microvolts
    d[0, names.index("I")], d[1, names.index("I")] = 12346, -12344  # 1.2346 mV -> 1235 uV, -1.2344 -> -1234
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(record_name=name, fs=fs, units=["mV"] * len(names), sig_name=names, d_signal=d,
                fmt=["16"] * len(names), adc_gain=[10000.0] * len(names), baseline=[0] * len(names),
                write_dir=str(folder))
    return folder / f"{name}.hea", {n.lower(): d[:, k] for k, n in enumerate(names)}


def test_read_kit_signals_matches_leads_by_name_cuts_10_s_and_rounds_to_1_uv(tmp_path):
    header, digital = _source(tmp_path / "src")
    uv, fs = read_kit_signals(header)
    assert fs == 250 and uv.shape == (2500, 12) and uv.dtype == np.int16
    for k, lead in enumerate(LEADS):
        assert np.array_equal(uv[:, k], np.round(digital[lead.lower()][:2500] / 10.0)), lead
    assert uv[0, 0] == 1235 and uv[1, 0] == -1234


def test_missing_lead_or_short_record_is_one_error_naming_the_file(tmp_path):
    header, _ = _source(tmp_path / "src", name="short", names=[n for n in ODD_NAMES if n != "V3"])
    with pytest.raises(PipelineError, match="lacks leads V3") as err:
        read_kit_signals(header)
    assert str(header) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(PipelineError, match="needs 2500") as err:
        kit_signals(np.zeros((2000, 12)), 250, header)
    assert str(header) in str(err.value)
    with pytest.raises(PipelineError, match="format 16"):
        kit_signals(np.full((2500, 12), 40.0), 250, header)


def test_written_record_is_what_the_kit_reads(tmp_path):
    uv = np.arange(-600, 600, dtype=np.int16).reshape(100, 12)
    header = write_kit_record(uv, 10, "muse-af", tmp_path, 64, "Female")
    back = wfdb.rdrecord(str(header.with_suffix("")))
    assert back.sig_name == list(LEADS) and back.fmt == ["16"] * 12 and back.adc_gain == [1000.0] * 12
    assert back.comments == ["Age: 64", "Sex: Female"]
    assert np.array_equal(back.p_signal, uv / 1000.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["muse-af.dat", "muse-af.hea"]  # no temp left


def test_records_list_prepared_once_with_demographics_of_their_position(tmp_path):
    src = tmp_path / "heldout" / "records"
    _source(src, "b", seed=1)
    _source(src, "a", seed=2)
    _source(src, "c", seed=3)
    assert [r.name for r in list_records(src)] == ["a", "b", "c"]  # no records.csv: every header
    (src.parent / "records.csv").write_text("record,database,fs_hz,duration_s,primary_set\n"
                                            "c,DB C,250,12.0,yes\nb,DB B,250,12.0,no\na,DB A,250,12.0,yes\n")
    records = list_records(src)
    assert [(r.name, r.database, r.fs) for r in records] == [("a", "DB A", 250.0), ("c", "DB C", 250.0)]
    headers = prepare_records(records, tmp_path / "out")
    assert wfdb.rdheader(str(headers[1].with_suffix(""))).comments == [f"Age: {demographics(1)[0]}",
                                                                       f"Sex: {demographics(1)[1]}"]
    mtime = headers[0].stat().st_mtime_ns
    prepare_records(records, tmp_path / "out")
    assert headers[0].stat().st_mtime_ns == mtime  # kept
    assert demographics(0) == (64, "Female")  # what kitreal's first record (00005_hr) prints


def test_page_jobs_seeds_and_options():
    records = [SourceRecord(f"r{i}", None, None, 500.0, 10.0) for i in range(6)]
    jobs = page_jobs(records)
    assert [j.name for j in jobs[:3]] == ["r0-clean", "r0-aug", "r1-clean"]
    clean, aug = jobs[0], jobs[1]
    assert (clean.seed, clean.options, clean.image) == (1000, ("--standard_grid_color", "5"), "r0-clean.png")
    assert aug.seed == 5000 and aug.image == "r0-aug.jpg" and aug.options[-1] == "--wrinkles"
    aug5 = [j for j in jobs if j.variant == "aug"][5]
    assert aug5.seed == 5005 and aug5.options[-2:] == ("--random_bw", "1") and not aug5.wrinkles
    assert [j.variant for j in page_jobs(records[:2], ["aug"])] == ["aug", "aug"]
    with pytest.raises(PipelineError, match="unknown variant"):
        page_jobs(records, ["dirty"])


def test_truth_csv_has_values_only_in_the_windows():
    values = np.arange(4 * 12, dtype=float).reshape(4, 12) / 7
    text = truth_csv(values, [("II", 0, 4), ("V6", 2, 4), ("I", 0, 1)])
    lines = text.splitlines()
    assert lines[0] == ",".join(LEADS) and len(lines) == 5
    assert lines[1] == "0,0.142857" + "," * 10
    assert lines[3] == f",{values[2, 1]:.6g}" + "," * 10 + f"{values[2, 11]:.6g}"


def test_index_row_of_clean_and_aug_pages():
    record = SourceRecord("r0", None, "DB", 500.0, 10.0)
    clean, aug = page_jobs([record])
    row = index_row(clean, {"sampling_frequency": 500.0}, 2200, 1700)
    assert (row["name"], row["fs"], row["image"]) == ("r0-clean", 500, "r0-clean.png")
    options = json.loads(row["options"])
    assert options["rotation_deg"] == 0 and options["age"] == 64 and "colour_temperature_K" not in options
    page = {"sampling_frequency": 500.0, "crease_angle": 46, "number_of_creases_horizontally": 8,
            "number_of_creases_vertically": 7,
            "drawn_augment": {"rotate_deg": -1, "crop_fraction": 0.003959725, "noise_scale": 17,
                              "temperature_K": 3034}}
    options = json.loads(index_row(aug, page, 2200, 1700)["options"])
    assert options["crop_fraction_per_side"] == 0.00396 and options["creases_v"] == 7
    assert list(options)[-4:] == ["colour_temperature_K", "crease_angle", "creases_h", "creases_v"]


FAKE_KIT = '''
"""A stand-in for ecg-image-kit's gen_ecg_image_from_data.py: a tiny page, the kit's JSON layout."""
import argparse, json, os, random
import numpy as np
from PIL import Image

def get_augment(input_file, output_directory, rotate=0, noise=0, crop=0.0, temperature=0, **kw):
    random.randint(-rotate, rotate), random.uniform(0, crop)
    return input_file

def get_parser():
    p = argparse.ArgumentParser()
    for flag in ("-i", "-hea", "-o", "--seed", "-st", "-r", "--full_mode", "--store_config",
                 "--calibration_pulse", "--standard_grid_color", "-rot", "-noise", "-c", "--random_bw"):
        p.add_argument(flag)
    for flag in ("--print_header", "--augment", "--wrinkles", "--random_grid_color"):
        p.add_argument(flag, action="store_true")
    return p

def run_single_file(args):
    if "FAIL" in open(args.hea).read():
        raise ValueError("fake kit cannot plot this record")
    rec = os.path.splitext(os.path.basename(args.i))[0]
    fs = int(open(args.hea).readline().split()[2])
    base = os.path.join(args.o, rec + "-0")
    Image.fromarray(np.full((30, 40, 4), 255, np.uint8)).save(base + ".png")
    quarter = fs * 10 // 4
    leads = [{"lead_name": name, "start_sample": c * quarter, "end_sample": (c + 1) * quarter,
              "plotted_pixels": [[1.0, float(k)] for k in range(quarter)]}
             for c, column in enumerate((("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"),
                                         ("V4", "V5", "V6"))) for name in column]
    leads.append({"lead_name": "II", "start_sample": 0, "end_sample": fs * 10,
                  "plotted_pixels": [[2.0, k / 3] for k in range(fs * 10)]})
    page = {"sampling_frequency": float(fs), "width": 40, "height": 30, "leads": leads,
            "ecg_plot_color": [np.random.randint(0, 50)] * 3}
    if args.augment:
        get_augment(base + ".png", args.o, rotate=3, noise=5, crop=0.01, temperature=3000)
        page.update(crease_angle=random.randint(0, 90), number_of_creases_horizontally=2,
                    number_of_creases_vertically=3)
    with open(base + ".json", "w") as f:
        json.dump(page, f, indent=4)
    return 1
'''

FAKE_IMGAUG = {
    "imgaug/__init__.py": "__version__ = 'fake'\ndef seed(s):\n    pass\n",
    "imgaug/augmenters.py": textwrap.dedent('''
        class Sequential:
            def __init__(self, steps):
                pass
            def __call__(self, keypoints):
                return keypoints
        def Affine(rotate):
            return None
        def Crop(percent):
            return None
        '''),
    "imgaug/augmentables/__init__.py": "",
    "imgaug/augmentables/kps.py": textwrap.dedent('''
        class KeypointsOnImage:
            def __init__(self, xy):
                self.xy = xy
            @classmethod
            def from_xy_array(cls, xy, shape):
                return cls(xy + [0.004, 0.0])  # x moves 0.004 px: the points are passed through
            def to_xy_array(self):
                return self.xy
        '''),
}


@pytest.fixture
def fake_kit(tmp_path):
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "gen_ecg_image_from_data.py").write_text(FAKE_KIT)
    for path, text in FAKE_IMGAUG.items():
        (kit / path).parent.mkdir(parents=True, exist_ok=True)
        (kit / path).write_text(text)
    return kit


def test_make_kit_pages_on_a_fake_kit(tmp_path, fake_kit, capsys):
    src = tmp_path / "records"
    for k, name in enumerate(("b", "a", "c")):
        _source(src, name, fs=100, seconds=10, seed=k)
    out = tmp_path / "kitreal"
    manifest = make_kit_pages(fake_kit, sys.executable, out, records_dir=src, limit=2, workers=2)
    assert manifest["records"] == ["a", "b"] and manifest["pages_in_index"] == 4
    assert manifest["kit"]["commit"] == kit_pages.KIT_COMMIT and manifest["kit_python"]["imgaug"] == "fake"
    rows = list(csv.DictReader(open(out / "index.csv", newline="")))
    assert [r["name"] for r in rows] == ["a-clean", "a-aug", "b-clean", "b-aug"]
    assert [r["image"] for r in rows[:2]] == ["a-clean.png", "a-aug.jpg"]
    assert (rows[0]["fs"], rows[0]["width"], rows[0]["height"]) == ("100", "40", "30")
    clean = json.loads(gzip.decompress((out / "a-clean.json.gz").read_bytes()))
    aug = json.loads(gzip.decompress((out / "a-aug.json.gz").read_bytes()))
    assert "drawn_augment" not in clean and clean["leads"][12]["plotted_pixels"][1] == [2.0, 1 / 3]
    assert aug["plotted_pixels_corrected_for"] == "rotation and crop"  # passed through (fake) imgaug, rounded:
    assert aug["leads"][12]["plotted_pixels"][1] == [2.0, 0.34] and aug["leads"][0]["plotted_pixels"][1] == [1.0, 1.0]
    drawn = aug["drawn_augment"]
    assert -3 <= drawn["rotate_deg"] <= 3 and 0 <= drawn["crop_fraction"] <= 0.01 and drawn["noise_scale"] == 5
    assert json.loads(rows[1]["options"])["rotation_deg"] == drawn["rotate_deg"]
    # The truth is the 1 uV record the kit was given, on the windows of the kit's JSON.
    uv, _ = read_kit_signals(src / "a.hea")
    truth = np.genfromtxt(out / "a-clean.csv", delimiter=",", skip_header=1)
    assert np.array_equal(truth[:, 1], uv[:, 1] / 1000.0) and np.isnan(truth[250:, 0]).all()
    assert (out / "a-clean.csv").read_bytes() == (out / "a-aug.csv").read_bytes()
    # Seeded: the same page twice is the same page; finished pages are not made again.
    first = (out / "a-aug.json.gz").read_bytes()
    (out / "a-aug.csv").unlink()
    again = make_kit_pages(fake_kit, sys.executable, out, records_dir=src, limit=2, workers=1)
    assert list(again["rendered_now"]["seconds_per_page"]) == ["a-aug"]
    assert (out / "a-aug.json.gz").read_bytes() == first
    assert "3 already made, 1 to render" in capsys.readouterr().out
    # A record the kit fails on: one line naming it; the pages made before stay.
    write_kit_record(np.zeros((1000, 12), np.int16), 100, "c", out / "records", 1, "FAIL")
    with pytest.raises(PipelineError, match="ecg-image-kit failed on this record .* fake kit cannot plot") as err:
        make_kit_pages(fake_kit, sys.executable, out, ["clean"], records_dir=src, limit=3)
    assert str(out / "records" / "c.hea") in str(err.value) and "\n" not in str(err.value)
    assert (out / "b-aug.jpg").is_file()


def test_missing_kit_or_interpreter_is_one_error_naming_it(tmp_path, fake_kit):
    with pytest.raises(PipelineError, match="gen_ecg_image_from_data.py") as err:
        make_kit_pages(tmp_path / "nokit", sys.executable, tmp_path / "out")
    assert str(tmp_path / "nokit") in str(err.value)
    with pytest.raises(PipelineError, match="interpreter .* not found") as err:
        make_kit_pages(fake_kit, tmp_path / "nopython", tmp_path / "out")
    assert str(tmp_path / "nopython") in str(err.value)
    (fake_kit / "imgaug" / "__init__.py").write_text("raise ImportError('no imgaug here')\n")
    with pytest.raises(PipelineError, match="lacks the kit's dependencies: ImportError: no imgaug here"):
        make_kit_pages(fake_kit, sys.executable, tmp_path / "out")
    assert not (tmp_path / "out").exists()
