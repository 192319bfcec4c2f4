"""kitreal: ecg-image-kit renders of the real held-out records, in ecgkit-dev's file format (evaluation only).

The records are the primary real 12-lead records of `shared/heldout/records` (68; `records.csv` beside the
folder says which), the renderer ecg-image-kit itself (commit KIT_COMMIT, folder codes/ecg-image-generator),
run under its own interpreter by `kit_runner.py`. Per record i (0-based, sorted by name):

- the record given to the kit (`records/<record>.{hea,dat}`): its first 10 s, the 12 leads matched
  case-insensitively, rounded to 1 uV, WFDB format 16 (1000 adc/mV, baseline 0), header comments
  `Age:`/`Sex:` drawn from random.Random(9000 + i);
- `<record>-clean.png` (seed 1000 + i) and `<record>-aug.jpg` (seed 5000 + i, rotation, noise, crop, colour
  temperature, a grid style by i % 5, wrinkles for even i), each with `<name>.csv` (the plotted values, NaN
  outside each lead's window), `<name>.json.gz` (the kit's JSON; aug points corrected for rotation and crop)
  and a row of `index.csv`, as `shared/ecgkit-dev/README.md` describes; `manifest.json` records the kit,
  its interpreter and the options.

Every file is written atomically; a page whose image, JSON and CSV all exist is not made again.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_path, sha256_file, sha256_tree, write_bytes_atomic, write_json_atomic
from pipeline.core.manifest import git_commit
from pipeline.core.paths import work_dir
from pipeline.ecg.evaluation.heldout import HELDOUT_DIR
from pipeline.ecg.formats.records import read_wfdb
from pipeline.ecg.layout import LEADS

KIT_COMMIT = "27b90f56896c9fc78b05a83ca14844ea2637aa0b"
"""The ecg-image-kit commit these options are for (github:alphanumericslab/ecg-image-kit)."""
KIT_SCRIPT = "gen_ecg_image_from_data.py"
RUNNER = Path(__file__).with_name("kit_runner.py")
RECORDS_DIR = HELDOUT_DIR / "records"
VARIANTS: tuple[str, ...] = ("clean", "aug")
SECONDS = 10
UV_PER_MV = 1000

BASE_OPTIONS = ("-st", "0", "-r", "200", "--full_mode", "II", "--store_config", "2", "--print_header",
                "--calibration_pulse", "1")
CLEAN_OPTIONS = ("--standard_grid_color", "5")
CLEAN_GRID = "standard colour 5 (red)"
AUG_OPTIONS = ("--augment", "-rot", "3", "-noise", "30", "-c", "0.01")
AUG_GRIDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("--random_bw", "1"), "black/grey (random_bw)"),
    (("--random_grid_color",), "random colour"),
    (("--standard_grid_color", "2"), "standard colour 2 (pink)"),
    (("--standard_grid_color", "1"), "standard colour 1 (brown)"),
    (("--standard_grid_color", "5"), "standard colour 5 (red)"),
)
SEED_BASE = {"clean": 1000, "aug": 5000}
DEMOGRAPHICS_SEED = 9000
INDEX_COLUMNS = ("name", "record", "variant", "fs", "width", "height", "image", "options")
PROBE = ("import json, sys, numpy, imgaug, wfdb, PIL, matplotlib, cv2; "
         "print(json.dumps({'python': sys.version.split()[0], 'numpy': numpy.__version__, "
         "'imgaug': imgaug.__version__, 'wfdb': wfdb.__version__, 'pillow': PIL.__version__, "
         "'matplotlib': matplotlib.__version__, 'opencv': cv2.__version__}))")


def kitreal_dir() -> Path:
    """Where `ecg kit-pages` writes the set and `ecg devsets` reads it by default: work/ecg/kitreal."""
    return work_dir("ecg") / "kitreal"


@dataclass(frozen=True)
class SourceRecord:
    name: str
    header: Path
    database: str | None
    fs: float
    duration_s: float


@dataclass(frozen=True)
class PageJob:
    index: int
    """The record's 0-based position in the sorted list: its seeds and demographics."""
    record: SourceRecord
    variant: str
    seed: int
    options: tuple[str, ...]
    grid: str
    wrinkles: bool

    @property
    def name(self) -> str:
        return f"{self.record.name}-{self.variant}"

    @property
    def image(self) -> str:
        return f"{self.name}.png" if self.variant == "clean" else f"{self.name}.jpg"


# ---------------------------------------------------------------- the records given to the kit

def list_records(records_dir: Path = RECORDS_DIR) -> list[SourceRecord]:
    """The records to render, sorted by name: those marked primary_set=yes in `records.csv` beside the folder,
    else every `<name>.hea` in it (database unknown, fs and duration from the header)."""
    records_dir = Path(records_dir)
    if not records_dir.is_dir():
        raise PipelineError("records folder not found", records_dir)
    table = records_dir.parent / "records.csv"
    if table.is_file():
        with open(table, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("primary_set") == "yes"]
        out = [SourceRecord(r["record"], records_dir / f"{r['record']}.hea", r["database"], float(r["fs_hz"]),
                            float(r["duration_s"])) for r in rows]
    else:
        import wfdb  # deferred: only for a folder without records.csv

        out = []
        for header in records_dir.glob("*.hea"):
            try:
                h = wfdb.rdheader(str(header.with_suffix("")))
            except Exception as err:  # wfdb raises many types for unreadable headers
                raise PipelineError(f"unreadable WFDB header ({type(err).__name__}: {err})", header) from err
            out.append(SourceRecord(header.stem, header, None, float(h.fs), float(h.sig_len) / float(h.fs)))
    for r in out:
        if not r.header.is_file():
            raise PipelineError("record listed in records.csv but not found", r.header)
    return sorted(out, key=lambda r: r.name)


def demographics(index: int) -> tuple[int, str]:
    """(age, sex) printed on record `index`'s pages: random, as ecgkit-dev's."""
    rng = random.Random(DEMOGRAPHICS_SEED + index)
    return rng.randint(20, 89), rng.choice(["Male", "Female"])


def kit_signals(mv: np.ndarray, fs: float, source: Path) -> np.ndarray:
    """The first 10 s of a (samples, 12) mV array in LEADS order as int16 microvolts (rounded to 1 uV).
    Too short a record, non-finite samples or a value beyond format 16 raise PipelineError naming `source`."""
    n = int(round(fs * SECONDS))
    mv = np.asarray(mv, dtype=float)
    if mv.ndim != 2 or mv.shape[1] != len(LEADS):
        raise PipelineError(f"expected {len(LEADS)} leads, got array of shape {mv.shape}", source)
    if len(mv) < n:
        raise PipelineError(f"record has {len(mv)} samples, needs {n} ({SECONDS} s at {fs:g} Hz)", source)
    window = mv[:n]
    if not np.isfinite(window).all():
        raise PipelineError("record has NaN or inf samples in its first 10 s", source)
    uv = np.round(window * UV_PER_MV)
    if np.abs(uv).max() >= 32767:
        raise PipelineError(f"{np.abs(uv).max() / UV_PER_MV:.3f} mV does not fit WFDB format 16 at 1 uV", source)
    return uv.astype(np.int16)


def read_kit_signals(header: Path) -> tuple[np.ndarray, float]:
    """(int16 uV of the first 10 s in LEADS order, fs) of a WFDB record; leads matched case-insensitively,
    whatever their order and extra signals; a missing lead raises PipelineError naming the file."""
    frame, fs = read_wfdb(header)
    return kit_signals(frame[list(LEADS)].to_numpy(), float(fs), header), float(fs)


def write_kit_record(uv: np.ndarray, fs: float, name: str, folder: Path, age: int, sex: str) -> Path:
    """`folder/<name>.{dat,hea}`: WFDB format 16, 1000 adc/mV, baseline 0, comments Age and Sex only.
    Both files are written atomically (the header last); returns the header's path."""
    import wfdb

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=folder) as tmp:
        try:
            wfdb.wrsamp(record_name=name, fs=fs, units=["mV"] * len(LEADS), sig_name=list(LEADS),
                        d_signal=np.asarray(uv, dtype=np.int16), fmt=["16"] * len(LEADS),
                        adc_gain=[float(UV_PER_MV)] * len(LEADS), baseline=[0] * len(LEADS),
                        comments=[f"Age: {age}", f"Sex: {sex}"], write_dir=tmp)
        except Exception as err:  # wfdb raises many types
            raise PipelineError(f"cannot write WFDB record ({type(err).__name__}: {err})",
                                folder / f"{name}.hea") from err
        for suffix in (".dat", ".hea"):
            write_bytes_atomic(folder / f"{name}{suffix}", (Path(tmp) / f"{name}{suffix}").read_bytes())
    return folder / f"{name}.hea"


def prepare_records(records: Sequence[SourceRecord], folder: Path) -> list[Path]:
    """The records given to the kit, under `folder` (kept when both files exist)."""
    out = []
    for i, r in enumerate(records):
        header = Path(folder) / f"{r.name}.hea"
        if not (header.is_file() and header.with_suffix(".dat").is_file()):
            uv, fs = read_kit_signals(r.header)
            write_kit_record(uv, fs, r.name, folder, *demographics(i))
        out.append(header)
    return out


# ---------------------------------------------------------------- pages

def page_jobs(records: Sequence[SourceRecord], variants: Sequence[str] = VARIANTS) -> list[PageJob]:
    """One job per record and variant, in ecgkit-dev's order (a record's clean page, then its aug page)."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise PipelineError(f"unknown variant(s) {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    jobs = []
    for i, r in enumerate(records):
        for variant in (v for v in VARIANTS if v in variants):
            if variant == "clean":
                options, grid, wrinkles = CLEAN_OPTIONS, CLEAN_GRID, False
            else:
                grid_options, grid = AUG_GRIDS[i % len(AUG_GRIDS)]
                wrinkles = i % 2 == 0
                options = AUG_OPTIONS + grid_options + (("--wrinkles",) if wrinkles else ())
            jobs.append(PageJob(i, r, variant, SEED_BASE[variant] + i, options, grid, wrinkles))
    return jobs


def kit_arguments(job: PageJob, header: Path, out_dir: Path) -> list[str]:
    """The kit's command line for one page (single-file mode)."""
    return ["-i", str(header.with_suffix(".dat")), "-hea", str(header), "-o", str(out_dir),
            "--seed", str(job.seed), *BASE_OPTIONS, *job.options]


def truth_csv(values: np.ndarray, windows: Sequence[tuple[str, int, int]]) -> str:
    """The truth CSV of a page: header LEADS, one row per sample, `%.6g` mV on the [start, end) windows the
    page plots of each lead, empty elsewhere."""
    shown = np.zeros(values.shape, bool)
    for lead, start, end in windows:
        shown[start:end, LEADS.index(lead)] = True
    lines = [",".join(LEADS)]
    for row, mask in zip(values, shown):
        lines.append(",".join(f"{v:.6g}" if m else "" for v, m in zip(row, mask)))
    return "\n".join(lines) + "\n"


def index_row(job: PageJob, page: dict, width: int, height: int) -> dict:
    """The page's index.csv row (ecgkit-dev's columns); `page` is its JSON as written."""
    drawn = page.get("drawn_augment")
    age, sex = demographics(job.index)
    options = {"render_seed": job.seed, "kit_options": " ".join(job.options), "source_record": job.record.name,
               "database": job.record.database, "source_fs": job.record.fs,
               "source_duration_s": job.record.duration_s, "source_window_s": [0, SECONDS], "age": age, "sex": sex,
               "grid": job.grid, "wrinkles": job.wrinkles,
               "rotation_deg": drawn["rotate_deg"] if drawn else 0,
               "crop_fraction_per_side": round(drawn["crop_fraction"], 5) if drawn else 0,
               "gaussian_noise_scale": drawn["noise_scale"] if drawn else 0}
    if drawn:
        options.update(colour_temperature_K=drawn["temperature_K"], crease_angle=page.get("crease_angle"),
                       creases_h=page.get("number_of_creases_horizontally"),
                       creases_v=page.get("number_of_creases_vertically"))
    return {"name": job.name, "record": job.record.name, "variant": job.variant,
            "fs": int(page["sampling_frequency"]), "width": width, "height": height, "image": job.image,
            "options": json.dumps(options, separators=(",", ":"))}


def page_files(job: PageJob, out: Path) -> tuple[Path, Path, Path]:
    """(image, JSON, CSV) of a page; the CSV is written last."""
    return out / job.image, out / f"{job.name}.json.gz", out / f"{job.name}.csv"


def is_complete(job: PageJob, out: Path) -> bool:
    return all(p.is_file() for p in page_files(job, out))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def run_kit(job: PageJob, header: Path, kit: Path, python: Path, work: Path) -> dict:
    """Run the kit on one page in `work`; returns the runner's result (drawn values, corrected points)."""
    result = work / "runner.json"
    page_json = work / f"{header.stem}-0.json"
    command = [str(python), str(RUNNER), str(kit), str(job.seed), str(result), "--points", str(page_json), "--",
               *kit_arguments(job, header, work)]
    try:
        run = subprocess.run(command, capture_output=True, text=True)
    except OSError as err:
        raise PipelineError(f"cannot run the kit's interpreter ({err.strerror or err})", python) from err
    if run.returncode != 0:
        raise PipelineError(f"ecg-image-kit failed on this record ({job.variant} page, exit {run.returncode}): "
                            f"{_last_line(run.stderr)}", header)
    if not (result.is_file() and page_json.is_file() and page_json.with_suffix(".png").is_file()):
        raise PipelineError(f"ecg-image-kit wrote no page for this record ({job.variant}; expected "
                            f"{page_json.with_suffix('.png').name} and {page_json.name})", header)
    return json.loads(result.read_text())


def render_page(job: PageJob, header: Path, kit: Path, python: Path, out: Path) -> float:
    """Make one page's image, JSON and CSV in `out` with the kit; returns the seconds it took."""
    from PIL import Image

    t0 = time.perf_counter()
    image_path, json_path, csv_path = page_files(job, out)
    with tempfile.TemporaryDirectory(prefix=f"kitpage-{job.name}-") as tmp:
        work = Path(tmp)
        result = run_kit(job, header, kit, python, work)
        page_json = work / f"{header.stem}-0.json"
        page = json.loads(page_json.read_text())
        with Image.open(page_json.with_suffix(".png")) as kit_image:
            image = kit_image.convert("RGB")  # the kit's alpha is 255 everywhere
    drawn = result.get("drawn_augment")
    if job.variant == "aug":
        if not drawn or result.get("corrected_pixels") is None:
            raise PipelineError("the kit drew no augmentation for this aug page", header)
        page["drawn_augment"] = drawn
        for lead, pixels in zip(page["leads"], result["corrected_pixels"]):
            lead["plotted_pixels"] = pixels
        page["plotted_pixels_corrected_for"] = "rotation and crop"
    with atomic_path(image_path) as tmp_image:
        if job.variant == "clean":
            image.save(tmp_image, format="PNG")
        else:
            image.save(tmp_image, format="JPEG", quality=85)
    write_bytes_atomic(json_path, gzip.compress(json.dumps(page, separators=(",", ":")).encode(), mtime=0))
    frame, _ = read_wfdb(header)
    windows = [(lead["lead_name"], int(lead["start_sample"]), int(lead["end_sample"])) for lead in page["leads"]]
    bad = sorted({w[0] for w in windows} - set(LEADS))
    if bad:
        raise PipelineError(f"the kit's JSON names unknown leads {', '.join(bad)}", json_path)
    write_bytes_atomic(csv_path, truth_csv(frame[list(LEADS)].to_numpy(), windows).encode())
    return time.perf_counter() - t0


def write_index(jobs: Sequence[PageJob], out: Path) -> int:
    """index.csv over every complete page of `jobs` (in their order); returns the row count."""
    from PIL import Image

    rows = []
    for job in jobs:
        if not is_complete(job, out):
            continue
        image_path, json_path, _ = page_files(job, out)
        with Image.open(image_path) as image:
            width, height = image.size
        page = json.loads(gzip.decompress(json_path.read_bytes()))
        rows.append(index_row(job, page, width, height))
    text = io.StringIO()
    writer = csv.DictWriter(text, list(INDEX_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(out / "index.csv", text.getvalue().encode())
    return len(rows)


# ---------------------------------------------------------------- the kit and its interpreter

def check_kit(kit: Path) -> Path:
    kit = Path(kit).expanduser().resolve()
    if not (kit / KIT_SCRIPT).is_file():
        raise PipelineError(f"not ecg-image-kit's codes/ecg-image-generator folder (no {KIT_SCRIPT}); "
                            f"give --kit a checkout of commit {KIT_COMMIT[:7]}", kit)
    return kit


def probe_python(python: Path, kit: Path) -> dict:
    """The versions the kit's interpreter runs with, seen from the kit's folder as the runner sees them;
    PipelineError naming the interpreter when it is missing or lacks the kit's dependencies."""
    python = Path(python).expanduser()
    if not python.is_file():
        raise PipelineError("the kit's interpreter (--kit-python) not found", python)
    try:
        run = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True, timeout=300, cwd=kit)
    except (OSError, subprocess.SubprocessError) as err:
        raise PipelineError(f"cannot run the kit's interpreter ({err})", python) from err
    if run.returncode != 0:
        raise PipelineError(f"the kit's interpreter lacks the kit's dependencies: {_last_line(run.stderr)}", python)
    return json.loads(run.stdout.strip().splitlines()[-1])


def make_kit_pages(kit: Path, python: Path, out: Path | None = None, variants: Sequence[str] = VARIANTS,
                   records_dir: Path = RECORDS_DIR, limit: int | None = None, workers: int = 2) -> dict:
    """(Re)make the kitreal set in `out` (default kitreal_dir()): records, pages not yet complete (`workers`
    kit processes at a time), index.csv and manifest.json. Returns the manifest."""
    kit = check_kit(kit)
    python = Path(python).expanduser()
    out = Path(out) if out is not None else kitreal_dir()
    versions = probe_python(python, kit)
    records = list_records(records_dir)
    if limit is not None:
        records = records[:max(limit, 0)]
    headers = {r.name: h for r, h in zip(records, prepare_records(records, out / "records"))}
    jobs = page_jobs(records, variants)
    todo = [j for j in jobs if not is_complete(j, out)]
    print(f"kit-pages: {len(jobs)} pages, {len(jobs) - len(todo)} already made, {len(todo)} to render -> {out}")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    with tqdm(total=len(todo), desc="kit pages", unit="page", disable=len(todo) < 2) as bar, \
            ThreadPoolExecutor(max(1, workers)) as pool:
        running = {pool.submit(render_page, j, headers[j.record.name], kit, python, out): j for j in todo}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                if future.exception() is not None:
                    for other in running:
                        other.cancel()
                    raise future.exception()
                seconds[job.name] = round(future.result(), 2)
                bar.update()
    every = page_jobs(list_records(records_dir), VARIANTS)
    rows = write_index(every, out)
    manifest = {
        "kit": {"commit": KIT_COMMIT, "folder": str(kit), "script_sha256": sha256_file(kit / KIT_SCRIPT),
                "py_files_sha256": sha256_tree(kit, "**/*.py")},
        "kit_python": {"path": str(python), **versions},
        "runner_sha256": sha256_file(RUNNER),
        "project_commit": git_commit(),
        "records_dir": str(Path(records_dir).resolve()),
        "records": [r.name for r in records],
        "options": {"base": list(BASE_OPTIONS), "clean": list(CLEAN_OPTIONS), "aug": list(AUG_OPTIONS),
                    "aug_grids_by_index_mod_5": [list(o) for o, _ in AUG_GRIDS], "aug_wrinkles": "even index",
                    "seeds": {v: f"{b} + index" for v, b in SEED_BASE.items()},
                    "demographics": f"random.Random({DEMOGRAPHICS_SEED} + index)", "window_s": [0, SECONDS]},
        "pages_in_index": rows,
        "rendered_now": {"pages": len(seconds), "wall_s": round(time.perf_counter() - t0, 1),
                         "seconds_per_page": seconds},
    }
    write_json_atomic(out / "manifest.json", manifest)
    print(f"kit-pages: {len(seconds)} rendered, {rows} pages in {out / 'index.csv'}")
    return manifest
