"""Our renderer's twins of the kitreal clean pages: the same records drawn by our renderer in ecg-image-kit's
style (`kit_style` on KIT_LAYOUT), written in the same folder format (evaluation only).

`python -m pipeline ecg devsets --kitreal TWINS --set kitreal-clean` then scores our pages of exactly the
signals the kit drew. The gap to the kit's own pages is how much our synthetic pages flatter the digitizer
where the signals are real; a renderer change that closes it makes our own pages a better place to choose
the digitizer's constants. Each twin keeps the kit page's truth CSV and JSON (same record, same windows) and
gets its own image, drawn from `rng_for(TWIN_SEED, record name)`; pages already written are kept.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_path, write_bytes_atomic
from pipeline.core.seeding import rng_for
from pipeline.ecg.formats.records import read_wfdb
from pipeline.ecg.layout import DURATION_S
from pipeline.ecg.synth.render import KIT_LAYOUT, kit_style, png_bytes, render_page

TWIN_SEED = 2024
"""Base seed of the twins' drawing (trace grey, header text)."""


def twin_page(record: Path) -> bytes:
    """PNG bytes of our kit-style page of a WFDB record (its first 10 s), drawn from the record's own seed."""
    frame, fs = read_wfdb(record)
    n = int(round(fs * DURATION_S))
    if len(frame) < n:
        raise PipelineError(f"record shorter than {DURATION_S:g} s", record)
    rng = rng_for(TWIN_SEED, record.name)
    page = render_page(frame.iloc[:n], int(fs), rng, KIT_LAYOUT, kit_style(rng))  # read_wfdb: LEADS, RangeIndex
    return png_bytes(page.image)


def make_kit_twins(kitreal: Path, out: Path) -> int:
    """Write a twin of every clean page of the kitreal folder into `out` (with its index.csv); returns how
    many pages the folder holds. PipelineError when kitreal has no index or a record is missing."""
    index_path = kitreal / "index.csv"
    if not index_path.is_file():
        raise PipelineError("no index.csv: make the kitreal set first ('ecg kit-pages')", kitreal)
    index = pd.read_csv(index_path)
    clean = index[index["variant"] == "clean"]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for row in tqdm(list(clean.itertuples(index=False)), desc="twin pages", unit="page"):
        image = out / f"{row.name}.png"
        for suffix in (".csv", ".json.gz"):
            source = kitreal / f"{row.name}{suffix}"
            if not source.is_file():
                raise PipelineError("kitreal page without its truth", source)
            if not (out / source.name).is_file():
                with atomic_path(out / source.name) as tmp:
                    shutil.copyfile(source, tmp)
        if not image.is_file():
            write_bytes_atomic(image, twin_page(kitreal / "records" / row.record))
        rows.append(row._replace(image=image.name))
    with atomic_path(out / "index.csv") as tmp:
        pd.DataFrame(rows, columns=index.columns).to_csv(tmp, index=False)
    return len(rows)
