"""End to end: a rendered page in, 12 leads out, scored with the competition metric."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.seeding import rng_for
from pipeline.ecg.digitizer import rows
from pipeline.ecg.digitizer.digitize import (
    INK_CLASSICAL,
    INK_DARKNESS,
    INK_NET,
    DigitizeConfig,
    Digitized,
    _traced_end,
    choose_reading,
    digitize_file,
    digitize_image,
    safe_digitize_file,
    separator_bars,
)
from pipeline.ecg.digitizer.rows import DetectedLayout
from pipeline.ecg.digitizer.trace import RowTrace, TraceConfig
from pipeline.ecg.evaluation.failures import doubts
from pipeline.ecg.evaluation.metric import image_ratio
from pipeline.ecg.layout import DEFAULT_LAYOUT, LEADS, PageLayout, lead_window, n_samples
from tests.ecg.digitizer.test_grid import add_screen_dots

render = pytest.importorskip("pipeline.ecg.synth.render")
scan = pytest.importorskip("pipeline.ecg.synth.degrade.scan")


def rendered(fs: int, seed: int, image_type: str = "0001"):
    record = render.simulate_record(fs, np.random.default_rng(seed))
    page = render.render_page(record, fs, np.random.default_rng(seed + 1))
    if image_type != "0001":
        page = render.degrade(page, image_type, np.random.default_rng(seed + 2))
    return record, cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)


def snr_db(record, result: Digitized, fs: int) -> float:
    labels = {lead: record[lead].to_numpy()[slice(*lead_window(fs, lead))] for lead in LEADS}
    return 10 * np.log10(image_ratio(labels, result.signals, fs))


@pytest.fixture(scope="module")
def clean_result():
    record, image = rendered(500, 11)
    return record, digitize_image(image, 500)


def test_clean_page_snr(clean_result):
    record, result = clean_result
    assert snr_db(record, result, 500) >= 15.0


def test_result_shapes_and_record(clean_result):
    _, result = clean_result
    assert set(result.signals) == set(LEADS)
    for lead, values in result.signals.items():
        assert len(values) == n_samples(500, lead) and np.isfinite(values).all()
    frame = result.to_record()
    assert frame.shape == (5000, 12) and list(frame.columns) == list(LEADS)
    assert frame["II"].notna().all()
    assert frame["V1"].notna().sum() == 1250 and frame["V1"].iloc[:2500].isna().all()
    assert sorted(result.paths) == ["row@0", "row@1", "row@2", "row@3"]
    assert all(p.ndim == 2 and p.shape[1] == 2 for p in result.paths.values())
    diag = result.diagnostics
    assert diag["grid_found"] and abs(diag["px_per_mm"] - 200 / 25.4) < 0.02
    assert len(diag["baselines"]) == 4 and "timings_s" in diag
    # what the failure report reads: both axes' grid periods agree, no step doubted on a clean page
    assert len(diag["grid_axis_periods"]) == 2 and diag["grid_strength"] > 10
    assert abs(diag["grid_axis_periods"][0] / diag["grid_axis_periods"][1] - 1) < 0.01
    assert isinstance(diag["crossings"], list) and isinstance(diag["gaps"], list)
    assert not {d.kind for d in doubts(diag)} & {"failed", "no_grid", "grid_unstable", "row_fallback"}


def test_colour_scan_snr():
    record, image = rendered(250, 21, "0003")
    assert snr_db(record, digitize_image(image, 250), 250) >= 10.0


def test_drop_out_black_and_white_scan_snr():
    """A colour print through a drop-out b/w scanner (the grid vanishes, the trace stays)."""
    record = render.simulate_record(1000, np.random.default_rng(21))
    page = render.render_page(record, 1000, np.random.default_rng(22))
    rng = np.random.default_rng(23)
    image = scan.bw_finish(scan.place_on_scanner(page, rng).image, rng)
    assert snr_db(record, digitize_image(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), 1000), 1000) >= 8.0


def test_a_thick_grey_print_keeps_its_r_waves():
    """A grey-printed b/w scan (type 0004 of our generator, seed 4242) draws strokes 5 px wide: a narrow
    R wave is a solid bar whose foot is cut from the baseline by a thin seam. The path keeps to the
    baseline beneath it; complete_apexes must still put the bar's top into lead I (without it: 0.65 of
    0.93 mV peak to peak, correlation 0.88; with it 0.83 and 0.97)."""
    record, page = render.clean_page(4242, "2179409038", 1000)
    shot = render.degrade(page, "0004", rng_for(4242, "2179409038", "0004"))
    result = digitize_image(cv2.cvtColor(shot.image, cv2.COLOR_RGB2BGR), 1000)
    truth = record["I"].to_numpy()[slice(*lead_window(1000, "I"))]
    read = result.signals["I"]
    assert np.ptp(read) >= 0.8 * np.ptp(truth)
    assert np.corrcoef(truth, read)[0, 1] >= 0.95


def _sharp_r_record(fs: int, seed: int):
    """Beats with sharp R waves (sigma 7-11 ms, up to 2.5 mV) in every lead, limb leads by Einthoven."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(10 * fs) / fs
    beats = np.arange(0.3, 10.0, rng.uniform(0.7, 0.9))
    leads = {}
    for lead in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"):
        r, s_r, s = rng.uniform(0.4, 2.5) * rng.choice([1, -1]), rng.uniform(0.007, 0.011), -rng.uniform(0, 0.8)
        wave = np.zeros_like(t)
        for b in beats:
            for height, centre, width in ((r, b, s_r), (s, b + 2.5 * s_r + 0.01, s_r), (0.3, b + 0.28, 0.05)):
                wave += height * np.exp(-0.5 * ((t - centre) / width) ** 2)
        leads[lead] = wave
    i, ii = leads["I"], leads["II"]
    leads.update({"III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2})
    return pd.DataFrame({lead: np.round(leads[lead], 3) for lead in LEADS})


def test_sharp_r_waves_drawn_by_the_kits_pen_are_read_with_the_crisp_pen_radius():
    """ecg-image-kit's pen (our renderer draws it since 8b222ba) merges the flanks of sharp R waves at
    500 Hz. On its crisp strokes the lower quartile of the measured half-widths is a little wide and
    reads them low; the crisp pages' percentile (TraceConfig.pen_half_quantile_crisp) reads them better
    (this page: 30.65 -> 31.60 dB)."""
    fs = 500
    record = _sharp_r_record(fs, 2)
    rng = np.random.default_rng(2)
    page = render.render_page(record, fs, rng, render.KIT_LAYOUT, render.kit_style(rng))
    image = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
    crisp = snr_db(record, digitize_image(image, fs), fs)
    quartile = snr_db(record, digitize_image(image, fs, DigitizeConfig(trace=TraceConfig(crisp_pen_spread=0.0))), fs)
    assert crisp > quartile + 0.4, (crisp, quartile)


def test_a_warped_kit_page_takes_t0_from_its_separators_not_from_the_kits_x():
    """A soaked kit page keeps the kit's size and scale, but the warp field the grid follows moves its
    columns: t = 0 at the kit's own x was read off by the warp's shift (own 0009 page 1025555632: every
    lead 11 samples early, 17.1 dB; 18.6 from the separators)."""
    fs = 500
    record = render.simulate_record(fs, np.random.default_rng(11))
    page = render.render_page(record, fs, np.random.default_rng(12), render.KIT_LAYOUT,
                              render.kit_style(np.random.default_rng(13)))
    image = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    shift = (2.0 + 2.0 * np.sin(2 * np.pi * ys / h)).astype(np.float32)  # 0-4 px right, smooth
    warped = cv2.remap(image, xs - shift, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    unmoved = digitize_image(image, fs).diagnostics["flags"]
    assert "x0_kit_page" in unmoved
    result = digitize_image(warped, fs)
    assert "warp_followed" in result.diagnostics["flags"] and "x0_kit_page" not in result.diagnostics["flags"]
    assert snr_db(record, result, fs) > 22.0  # 19.95 at the kit's x


def _row(top: np.ndarray, ink: np.ndarray) -> RowTrace:
    """A RowTrace of runs 3 px tall starting at `top` (NaN: no ink) with path ink `ink`."""
    raw = np.where(np.isfinite(top), top + 1.5, np.nan)
    return RowTrace(x0=100, y=raw, raw=raw, path=np.zeros(len(top), np.int64), ink=ink.astype(np.float32),
                    top=top, bottom=top + 3.0)


def test_traced_end_is_where_the_stroke_ends_not_the_speckle_after_it():
    """Past the trace's end a path over a b/w scan's speckle finds ink in most columns, but faint and
    in runs that do not touch; the stroke's own faint cap still counts."""
    rng = np.random.default_rng(0)
    n_trace, n_speckle = 400, 120
    top = np.concatenate([50.0 + np.zeros(n_trace), rng.choice([20.0, 35.0, 60.0, 75.0], n_speckle)])
    ink = np.concatenate([np.full(n_trace, 0.95), rng.uniform(0.3, 0.6, n_speckle)])
    ink[n_trace - 2:n_trace] = 0.3  # the pen's round cap, fainter
    top[n_trace:][rng.random(n_speckle) < 0.15] = np.nan
    assert _traced_end([_row(top, ink)]) == pytest.approx(100 + n_trace - 0.5)
    # Touching, solid runs all the way: the stroke goes on.
    assert _traced_end([_row(np.full(520, 50.0), np.full(520, 0.9))]) == pytest.approx(100 + 520 - 0.5)


def test_separator_bars_stand_where_the_separators_are_not_where_the_end_guess_puts_them():
    """On the real b/w scan 46930936-0004 the traces' end, guessed before the pen is known, put the
    bars 2.4 px right of the printed ones, and their ragged ends were traced as the lead's end."""
    px_per_s, x0 = 196.85, 117.6
    col = 2.5 * px_per_s
    printed = [x0 + k * col for k in range(1, 4)]
    off = 2.4
    found = DetectedLayout(layout=PageLayout(x0=x0 + off), bands=(), row_strength=(), row_ends=(),
                           separators=tuple(printed), x_end=x0 + 10 * px_per_s + off)
    assert np.allclose(separator_bars(found)[1:], printed, atol=0.3)
    # No separators found: the end's guess is all there is.
    alone = DetectedLayout(layout=PageLayout(x0=x0 + off), bands=(), row_strength=(), row_ends=(),
                           x_end=x0 + 10 * px_per_s + off)
    assert separator_bars(alone)[0] == pytest.approx(x0 + off, abs=0.01)


def test_bad_files_raise_or_fall_back(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(PipelineError) as err:
        digitize_file(empty, 500)
    assert "empty.png" in str(err.value)
    safe = safe_digitize_file(empty, 500)
    assert safe.flags and safe.flags[0].startswith("failed:")
    assert all(np.all(v == 0) and len(v) == n_samples(500, k) for k, v in safe.signals.items())


def test_blank_and_noise_pages_do_not_crash(tmp_path):
    blank = np.full((850, 1100, 3), 255, np.uint8)
    with pytest.raises(PipelineError, match="blank page"):
        digitize_image(blank, 250)
    cv2.imwrite(str(tmp_path / "blank.png"), blank)
    result = safe_digitize_file(tmp_path / "blank.png", 250)
    assert result.flags[0].startswith("failed:") and "blank.png" in result.flags[0]
    assert all(np.isfinite(v).all() and not v.any() for v in result.signals.values())
    noise = np.random.default_rng(0).integers(0, 256, (400, 500, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    cv2.imwrite(str(path), noise)
    result = safe_digitize_file(path, 512)
    assert all(len(v) == n_samples(512, k) and np.isfinite(v).all() for k, v in result.signals.items())


def test_digitize_file_reads_a_written_page(tmp_path):
    record, image = rendered(256, 31)
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), image)
    result = digitize_file(path, 256)
    assert snr_db(record, result, 256) >= 15.0


def test_orientation_helpers() -> None:
    from pipeline.ecg.digitizer.orientation import ROTATIONS, looks_upright, unrotate_points

    assert looks_upright([3, 3, 2, 0]) and looks_upright([2, 2, 2, 1])
    assert not looks_upright([0, 3, 3, 3]) and not looks_upright([3, 3, 3, 2]) and not looks_upright([0, 0, 0, 0])
    h, w = 5, 8
    page = np.arange(h * w).reshape(h, w)
    for degrees, code in ROTATIONS.items():
        turned = cv2.rotate(page, code)
        ys, xs = np.nonzero(np.ones_like(turned))
        back = unrotate_points(np.column_stack([xs, ys]).astype(float), degrees, (h, w)).astype(int)
        assert np.array_equal(page[back[:, 1], back[:, 0]], turned[ys, xs])


def test_a_turned_reading_replaces_the_first_only_when_it_looks_upright_and_is_doubted_no_more() -> None:
    from pipeline.ecg.digitizer.orientation import prefer_turned

    first = {"row_breaks": [3, 3, 1, 2], "doubt": 0.29}  # a photo whose lead changes partly hide
    assert not prefer_turned(first, {"row_breaks": [3, 2, 3, 1], "doubt": 0.30}, portrait=False)
    assert prefer_turned(first, {"row_breaks": [3, 2, 3, 1], "doubt": 0.12}, portrait=False)
    assert not prefer_turned(first, {"row_breaks": [3, 3, 3, 2], "doubt": 0.01}, portrait=False)
    # A portrait page has no upright first reading to hold on to: looking upright is enough.
    assert prefer_turned(first, {"row_breaks": [3, 2, 3, 1], "doubt": 0.30}, portrait=True)


def test_the_classical_reading_is_replaced_only_by_one_doubted_clearly_less() -> None:
    assert choose_reading({INK_CLASSICAL: 0.023, INK_DARKNESS: 0.022}) == INK_CLASSICAL
    assert choose_reading({INK_CLASSICAL: 0.095, INK_DARKNESS: 0.092}) == INK_DARKNESS
    assert choose_reading({INK_CLASSICAL: 0.3, INK_DARKNESS: 0.2, INK_NET: 0.1}) == INK_NET
    assert choose_reading({INK_CLASSICAL: 0.01, INK_DARKNESS: 0.2}) == INK_CLASSICAL
    assert choose_reading({INK_CLASSICAL: 0.2}) == INK_CLASSICAL


def _screen_page(ink: tuple[int, int, int], fs: int = 500, seed: int = 11):
    """(record, BGR page) of `ink` on a light green grid under a screen's faint grey dots with colour fringes
    (see test_grid's dotted page)."""
    record = render.simulate_record(fs, np.random.default_rng(seed))
    style = replace(render.random_style(np.random.default_rng(3)), grid="green", grid_major=(185.0, 215.0, 190.0),
                    grid_minor=(215.0, 235.0, 218.0), paper=(226.0, 226.0, 226.0), ink=ink, thickness=2)
    image = render.render_page(record, fs, np.random.default_rng(seed + 1), style=style).image.astype(float)
    add_screen_dots(image, np.random.default_rng(5))
    return record, cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


def test_a_blue_trace_on_a_dotted_screen_is_read_from_the_darkness() -> None:
    """Dark blue ink on a light green grid, under a screen's faint grey dots: the chroma subtraction that
    clears the grid leaves the trace no darker than the dots (the page reads worse than a flat line),
    while its darkness alone reads it."""
    fs = 500
    record, page = _screen_page((92, 110, 135), fs)
    classical = digitize_image(page, fs, DigitizeConfig(darkness_candidate=False))
    chosen = digitize_image(page, fs)
    assert snr_db(record, classical, fs) < 2.0
    assert chosen.diagnostics["ink_source"] == INK_DARKNESS
    assert snr_db(record, chosen, fs) > 6.0


def test_a_darkness_reading_whose_page_map_lost_the_pulses_finds_its_own_rows_and_t0() -> None:
    """A deep blue trace on a dotted screen: the page's chroma-subtracted map keeps too little of it to
    show the pulses or where the trace ends, and t = 0 was placed 400 px off the page. The darkness
    reading then finds its own rows, ends and pulses (DigitizeConfig.own_layout)."""
    fs = 500
    record, page = _screen_page((40, 40, 160), fs)
    shared = digitize_image(page, fs, DigitizeConfig(own_layout=False))
    own = digitize_image(page, fs)
    assert abs(shared.diagnostics["x0"] - DEFAULT_LAYOUT.x0) > 50.0
    assert own.diagnostics["ink_source"] == INK_DARKNESS
    assert abs(own.diagnostics["x0"] - DEFAULT_LAYOUT.x0) < 1.0
    assert snr_db(record, own, fs) > snr_db(record, shared, fs) + 5.0


def test_turned_pages_read_like_the_upright_one(tmp_path) -> None:
    record, image = rendered(500, 5)
    upright = digitize_image(image, 500)
    for code, flag in ((cv2.ROTATE_180, "turned_180"), (cv2.ROTATE_90_CLOCKWISE, "turned_270")):
        result = digitize_image(cv2.rotate(image, code), 500)
        assert result.flags[0] == flag
        for lead in LEADS:
            np.testing.assert_allclose(result.signals[lead], upright.signals[lead], atol=0.02)
        assert all(len(p) for p in result.paths.values())


def test_shipped_segmenter_runs_when_asked_and_does_not_lose_a_clean_page(clean_result):
    """The default config is the classical ink map; the shipped row segmenter, when asked for, must not
    do worse than it on a clean render (within 1 dB), and its step is timed."""
    from pipeline.ecg.digitizer.digitize import SHIPPED_SEGMENTER, DigitizeConfig

    record, result = clean_result
    assert DigitizeConfig().segmenter is None and "segment" not in result.diagnostics["timings_s"]
    _, image = rendered(500, 11)
    learned = digitize_image(image, 500, DigitizeConfig(segmenter=SHIPPED_SEGMENTER))
    assert "segment" in learned.diagnostics["timings_s"]
    assert snr_db(record, learned, 500) >= snr_db(record, result, 500) - 1.0
    # Every ink source was read (the page has colour: its darkness too); the one kept is the choice
    # among their doubts.
    doubts = learned.diagnostics["ink_doubts"]
    assert set(doubts) == {"classical", "darkness", "net"}
    assert result.diagnostics["ink_doubts"].keys() == {"classical", "darkness"}
    assert learned.diagnostics["ink_source"] == choose_reading(doubts)
    assert learned.diagnostics["doubt"] == doubts[learned.diagnostics["ink_source"]]



def test_a_first_r_wave_reaching_past_the_row_above_is_read_whole(monkeypatch):
    """V3 starts on an R wave 3.4 mV tall, whose tip stands past the row above's baseline: the trace band
    of 0.95 row spacings cut it, and the path took V3's label instead (ecgkit-dev sim012-clean, V3 8.7 dB);
    rows.BAND_REACH (1.1 spacings) reads it."""
    fs = 500
    t = np.arange(10 * fs) / fs

    def beats(at, r_mv):
        return sum(r_mv * np.exp(-0.5 * ((t - b) / 0.012) ** 2) - 0.3 * np.exp(-0.5 * ((t - b - 0.04) / 0.01) ** 2)
                   + 0.25 * np.exp(-0.5 * ((t - b - 0.3) / 0.05) ** 2) for b in at)

    regular = np.r_[np.arange(0.52, 10.0, 0.75), 5.03]
    leads = {lead: beats(regular, 0.8) for lead in LEADS}
    leads["V3"] = leads["V3"] + beats([5.03], 2.6)  # the lead's first beat, 3.4 mV
    record = pd.DataFrame({lead: np.round(v, 3) for lead, v in leads.items()})
    rng = np.random.default_rng(5)
    page = render.render_page(record, fs, rng, render.KIT_LAYOUT, render.kit_style(rng))
    image = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
    a, b = lead_window(fs, "V3")

    def v3_db() -> float:
        got = digitize_image(image, fs).signals["V3"]
        return 10 * np.log10(image_ratio({"V3": record["V3"].to_numpy()[a:b]}, {"V3": got}, fs))

    assert v3_db() > 15.0  # 20.4
    monkeypatch.setattr(rows, "BAND_REACH", 0.95)
    assert v3_db() < 5.0  # 0.8
