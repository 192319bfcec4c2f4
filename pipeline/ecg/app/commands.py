"""Step commands of the ECG task: render, digitize, score, heldout, devsets, kit-pages, kit-twins, bench,
synthetic, time-axis, ship-segmenter.

Stable contracts other tools call:
    python -m pipeline ecg digitize IMAGE... --out DIR [--fs 500]   -> DIR/<stem>.csv per image
        [--beats]  also DIR/<stem>.beats.csv (P, QRS, T fiducials per lead) and the rhythm of lead II
        [--report] also DIR/<stem>.overlay.png and DIR/<stem>.report.md (what looked doubtful)
    python -m pipeline ecg score TRUTH_DIR PRED_DIR                  -> prints the competition score
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.core.io import atomic_path, sha256_file, write_bytes_atomic, write_json_atomic, write_text_atomic
from pipeline.core.parallel import default_workers
from pipeline.core.paths import work_dir
from pipeline.ecg.app.bench import run_bench, synthetic_table
from pipeline.ecg.app.kaggle_commands import add_commands as add_kaggle_commands
from pipeline.ecg.digitizer.digitize import SHIPPED_SEGMENTER, DigitizeConfig, digitize_file
from pipeline.ecg.digitizer.segment import DEFAULT_CHECKPOINT, read_checkpoint
from pipeline.ecg.evaluation.beats import delineate_leads
from pipeline.ecg.evaluation.devsets import SETS, SHARED_DIR, evaluate_devsets, print_scores
from pipeline.ecg.evaluation.failures import doubt_regions, doubts
from pipeline.ecg.evaluation.heldout import evaluate_heldout
from pipeline.ecg.evaluation.kit_pages import RECORDS_DIR, VARIANTS, kitreal_dir, make_kit_pages
from pipeline.ecg.evaluation.kit_twins import make_kit_twins
from pipeline.ecg.evaluation.metric import score_dirs
from pipeline.ecg.evaluation.overlay import write_overlay
from pipeline.ecg.evaluation.rhythm import rhythm_of_beats
from pipeline.ecg.evaluation.time_axis import time_axis_table
from pipeline.ecg.synth.render import ALL_TYPES, make_competition


def cmd_render(args: argparse.Namespace) -> None:
    types = tuple(args.types.split(",")) if args.types else ALL_TYPES
    make_competition(Path(args.out), n_train=args.n_train, n_test=args.n_test, seed=args.seed, types=types,
                     workers=args.workers)
    print(f"synthetic competition written to {args.out}")


def _segmenter_arg(value: str | None) -> str | None:
    """--segmenter: a checkpoint path, 'shipped' for the package's checkpoint, 'none' for the classical
    digitizer, or None for the default (DigitizeConfig's)."""
    if value is None:
        return DigitizeConfig().segmenter
    if value.lower() == "shipped":
        return SHIPPED_SEGMENTER
    return None if value.lower() == "none" else value


def cmd_digitize(args: argparse.Namespace) -> None:
    """Digitize each image into OUT/<stem>.csv; a bad image stops with a one-line error naming it."""
    out = Path(args.out)
    config = DigitizeConfig(segmenter=_segmenter_arg(args.segmenter))
    for image in args.images:
        stem = Path(image).stem
        result = digitize_file(Path(image), args.fs, config)
        with atomic_path(out / f"{stem}.csv") as tmp:
            result.to_record().to_csv(tmp, index=False, float_format="%.5f")
        flags = result.diagnostics.get("flags", [])
        print(f"{image} -> {out / (stem + '.csv')}" + (f"  flags: {', '.join(flags)}" if flags else ""))
        if args.beats:
            _write_beats(result, out / f"{stem}.beats.csv")
        if args.report:
            _write_image_report(Path(image), result, out / f"{stem}.overlay.png", out / f"{stem}.report.md")


def _write_beats(result, path: Path) -> None:
    beats = delineate_leads(result.signals, result.fs)
    with atomic_path(path) as tmp:
        beats.to_csv(tmp, index=False, float_format="%.4f")
    r = rhythm_of_beats(beats[beats["lead"] == "II"])
    print(f"  beats -> {path}; rhythm {r.label}, {r.heart_rate:.0f} bpm, RR irregularity {r.irregularity:.3f}")


def _write_image_report(image: Path, result, overlay: Path, report: Path) -> None:
    found = doubts(result.diagnostics)
    write_overlay(image, result.paths, overlay, title=image.name, regions=doubt_regions(result.diagnostics))
    lines = [f"# {image.name}", "", f"![overlay]({overlay.name})", "", "## Doubts", ""]
    lines += [f"- {d}" for d in found] or ["- none"]
    lines += ["", "## Diagnostics", "", "```json", json.dumps(result.diagnostics, indent=1, default=str), "```", ""]
    write_text_atomic(report, "\n".join(lines))
    print(f"  report -> {report} ({len(found)} doubt(s)), overlay -> {overlay}")


def cmd_score(args: argparse.Namespace) -> None:
    report = score_dirs(Path(args.truth_dir), Path(args.pred_dir))
    print(report.per_image.to_string(index=False))
    print(f"SNR {report.snr_db:.2f} dB over {len(report.per_image)} images")
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=2, default=str))


def cmd_heldout(args: argparse.Namespace) -> None:
    table = evaluate_heldout()
    print(table.to_string(index=False))


def cmd_devsets(args: argparse.Namespace) -> None:
    config = DigitizeConfig(segmenter=_segmenter_arg(args.segmenter))
    scores = evaluate_devsets(config, args.set or SETS, Path(args.shared) if args.shared else SHARED_DIR,
                              Path(args.kitreal) if args.kitreal else None)
    if scores.per_page.empty:
        print("devsets: no pages found")
        return
    print_scores(scores, n_worst=args.worst)
    if args.csv:
        with atomic_path(args.csv) as tmp:
            scores.per_page.to_csv(tmp, index=False, float_format="%.4f")


def cmd_kit_pages(args: argparse.Namespace) -> None:
    make_kit_pages(Path(args.kit), Path(args.kit_python), Path(args.out) if args.out else None,
                   [v.strip() for v in args.variants.split(",") if v.strip()], Path(args.records), args.limit,
                   args.workers)


def cmd_kit_twins(args: argparse.Namespace) -> None:
    kitreal = Path(args.kitreal) if args.kitreal else kitreal_dir()
    n = make_kit_twins(kitreal, Path(args.out))
    print(f"kit-twins: {n} pages in {args.out}; score them with 'ecg devsets --kitreal {args.out} --set kitreal-clean'")


def cmd_bench(args: argparse.Namespace) -> None:
    run_bench(n_per_type=args.n_per_type, workers=args.workers,
              segmenter=_segmenter_arg(args.segmenter or "shipped"))


def cmd_synthetic(args: argparse.Namespace) -> None:
    types = tuple(args.types.split(",")) if args.types else ALL_TYPES
    synthetic_table(args.seed, types, n_per_type=args.n_per_type, workers=args.workers)


def cmd_time_axis(args: argparse.Namespace) -> None:
    table = time_axis_table(Path(args.competition), args.id or ())
    cols = ["id", "type", "fs", "x0_spread_px", "px_per_s_spread_pct", "row_residual_px", "x0_error_px",
            "px_per_s_error_pct"]
    print(table[cols].to_string(index=False))
    if args.csv:
        with atomic_path(args.csv) as tmp:
            table.to_csv(tmp, index=False)


def cmd_ship_segmenter(args: argparse.Namespace) -> None:
    """Make a trained checkpoint the package's default (weights/segment_default.pt and its .json record)."""
    source = Path(args.checkpoint) if args.checkpoint else work_dir("ecg") / "model" / "segment.pt"
    _, config, facts = read_checkpoint(source)
    record_path = source.parent / "model.json"
    trained = json.loads(record_path.read_text()) if record_path.exists() else {}
    history = source.parent / "history.json"
    write_bytes_atomic(DEFAULT_CHECKPOINT, source.read_bytes())
    record = {"sha256": sha256_file(DEFAULT_CHECKPOINT), "bytes": DEFAULT_CHECKPOINT.stat().st_size,
              "command": facts.get("command", ""), "data_hash": facts.get("data_hash", ""),
              "epoch": facts.get("epoch"), "torch": facts.get("torch"), "config": facts.get("train_config"),
              "best_val_snr_db": trained.get("best_val_snr_db"), "train_s": trained.get("train_s"),
              "history": json.loads(history.read_text())["history"] if history.exists() else []}
    write_json_atomic(DEFAULT_CHECKPOINT.with_suffix(".json"), record)
    print(f"{source} -> {DEFAULT_CHECKPOINT} (sha256 {record['sha256'][:16]}..., {record['bytes']} bytes)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("render", help="make a synthetic competition folder")
    p.add_argument("--out", required=True)
    p.add_argument("--n-train", type=int, default=6)
    p.add_argument("--n-test", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--types", metavar="T1,T2", help="image types, comma-separated (default: all nine)")
    p.add_argument("--workers", type=int, default=default_workers())
    p.set_defaults(func=cmd_render)

    p = commands.add_parser("digitize", help="ECG images -> one 12-lead CSV each")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--fs", type=int, default=500, help="sampling rate of the output CSV (Hz)")
    p.add_argument("--beats", action="store_true",
                   help="also write <stem>.beats.csv (P, QRS, T onsets, peaks, offsets) and print the rhythm")
    p.add_argument("--report", action="store_true",
                   help="also write <stem>.overlay.png and <stem>.report.md (doubtful steps, diagnostics)")
    p.add_argument("--segmenter", metavar="CHECKPOINT|none",
                   help="row-segmentation checkpoint, 'shipped' for the package's "
                        "(default: none, the classical ink map)")
    p.set_defaults(func=cmd_digitize)

    p = commands.add_parser("score", help="competition score of PRED_DIR/<stem>.csv against TRUTH_DIR")
    p.add_argument("truth_dir", metavar="TRUTH_DIR")
    p.add_argument("pred_dir", metavar="PRED_DIR")
    p.add_argument("--json", help="also write the full report here")
    p.set_defaults(func=cmd_score)

    p = commands.add_parser("heldout", help="SNR on shared/heldout/paired_images (evaluation only)")
    p.set_defaults(func=cmd_heldout)

    p = commands.add_parser("devsets", help="SNR on the development sets others drew (kaggle-real, "
                                             "ecgkit-clean, ecgkit-aug, paired-images, kitreal-clean, "
                                             "kitreal-aug; evaluation only)")
    p.add_argument("--set", action="append", metavar="NAME",
                   help="only this set (repeatable; default: all)")
    p.add_argument("--segmenter", metavar="CHECKPOINT|none",
                   help="row-segmentation checkpoint, 'shipped' for the package's "
                        "(default: none, the classical ink map)")
    p.add_argument("--shared", metavar="DIR", help="the shared folder (default: ../shared beside the project)")
    p.add_argument("--kitreal", metavar="DIR", help="the kitreal set made by kit-pages (default: work/ecg/kitreal)")
    p.add_argument("--worst", type=int, default=10, help="how many of the worst pages to print")
    p.add_argument("--csv", help="also write the per-page table here")
    p.set_defaults(func=cmd_devsets)

    p = commands.add_parser("kit-pages", help="render the real held-out records with ecg-image-kit into "
                                              "ecgkit-dev's format (kitreal-clean/-aug; evaluation only)")
    p.add_argument("--kit", required=True, metavar="DIR",
                   help="ecg-image-kit's codes/ecg-image-generator (commit 27b90f5)")
    p.add_argument("--kit-python", required=True, metavar="PY",
                   help="an interpreter with the kit's dependencies (numpy<2, imgaug, wfdb, ...)")
    p.add_argument("--out", metavar="DIR", help="default: work/ecg/kitreal")
    p.add_argument("--variants", default=",".join(VARIANTS), metavar="V1,V2", help="clean, aug or both (default)")
    p.add_argument("--records", default=str(RECORDS_DIR), metavar="DIR",
                   help="WFDB records; records.csv beside the folder picks the primary set (default: "
                        "../shared/heldout/records)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N records (sorted by name)")
    p.add_argument("--workers", type=int, default=2, help="kit processes at a time (default 2)")
    p.set_defaults(func=cmd_kit_pages)

    p = commands.add_parser("kit-twins", help="our renderer's kit-style pages of the kitreal clean pages' records, "
                                              "in the same format (how much our pages flatter the digitizer)")
    p.add_argument("--kitreal", metavar="DIR", help="the kitreal set made by kit-pages (default: work/ecg/kitreal)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_kit_twins)

    p = commands.add_parser("bench", help="seconds per image per step, SNR per type, peak memory")
    p.add_argument("--n-per-type", type=int, default=4)
    p.add_argument("--workers", type=int, default=default_workers())
    p.add_argument("--segmenter", metavar="CHECKPOINT|none",
                   help="row-segmentation checkpoint compared with the classical digitizer "
                        "(default: shipped; none: classical only)")
    p.set_defaults(func=cmd_bench)

    p = commands.add_parser("synthetic", help="SNR per type on a fresh synthetic test set of your own seed and "
                                              "types (where constants are chosen; the bench's seed is not)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--types", metavar="T1,T2", help="image types, comma-separated (default: all nine)")
    p.add_argument("--n-per-type", type=int, default=4)
    p.add_argument("--workers", type=int, default=default_workers())
    p.set_defaults(func=cmd_synthetic)

    p = commands.add_parser("time-axis", help="each row's own x0 and px/s against the digitizer's, on the "
                                              "test pages of a synthetic competition (truth in hidden/)")
    p.add_argument("competition", metavar="COMP_DIR", help="a folder written by 'render' (its ecg/ subfolder)")
    p.add_argument("--id", action="append", metavar="ID", help="only this page (repeatable; default: all)")
    p.add_argument("--csv", help="also write the per-page table here")
    p.set_defaults(func=cmd_time_axis)

    p = commands.add_parser("ship-segmenter", help="make a trained checkpoint (default: stage1's) the "
                                                   "package's default segmenter, with its record")
    p.add_argument("--checkpoint", help="default: work/ecg/model/segment.pt")
    p.set_defaults(func=cmd_ship_segmenter)


    add_kaggle_commands(commands)


