"""Kaggle step commands of the ECG task: download, submit, kernels, push, kaggle-dataset.

    python -m pipeline ecg download                      competition files -> data/ecg/
    python -m pipeline ecg submit [--file F] [--message M] [--kernel USER/SLUG [--version N]]
    python -m pipeline ecg kernels                       kernels/*/<name>.py -> <name>.ipynb
    python -m pipeline ecg push [--kernel DIR]           build the notebook, then kaggle kernels push
    python -m pipeline ecg kaggle-dataset [--out DIR] [--upload]

Everything that talks to Kaggle checks for credentials first and fails with one line on how to add them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline import __version__
from pipeline.core import kaggle, kernels
from pipeline.core.kaggle_dataset import build_dataset
from pipeline.core.kernels import build_all
from pipeline.core.manifest import git_commit
from pipeline.core.paths import data_dir, submissions_dir

COMPETITION = "physionet-ecg-image-digitization"
DEFAULT_KERNEL = "ecg-digitization"


def _default_message() -> str:
    return f"pipeline {__version__} ({git_commit()[:10]})"


def cmd_download(args: argparse.Namespace) -> None:
    dest = kaggle.download(COMPETITION, Path(args.dest) if args.dest else data_dir("ecg"))
    print(f"competition files in {dest}")


def cmd_submit(args: argparse.Namespace) -> None:
    message = args.message or _default_message()
    if args.kernel:
        kaggle.submit_kernel(args.kernel, message, COMPETITION, version=args.version)
        print(f"submitted the output of kernel {args.kernel} to {COMPETITION}")
        return
    file = Path(args.file) if args.file else submissions_dir() / "ecg.csv"
    kaggle.submit(file, message, COMPETITION)
    print(f"submitted {file} to {COMPETITION}")


def cmd_kernels(args: argparse.Namespace) -> None:
    for notebook in build_all():
        print(f"wrote {notebook}")


def cmd_push(args: argparse.Namespace) -> None:
    kaggle.require_credentials()  # before writing anything
    folder = Path(args.kernel) if args.kernel else kernels.KERNELS_DIR / DEFAULT_KERNEL
    kernels.build_notebook(folder)
    kernel_id = kaggle.push_kernel(folder)
    print(f"pushed kernel {kernel_id}")


def cmd_kaggle_dataset(args: argparse.Namespace) -> None:
    if args.upload:
        kaggle.require_credentials()
    out = build_dataset(Path(args.out) if args.out else None, extra=args.extra,
                        download=not args.no_deps_download)
    print(f"Kaggle dataset folder: {out}")
    if args.upload:
        dataset_id = kaggle.dataset_create_or_version(out, args.message or _default_message())
        print(f"uploaded dataset {dataset_id}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("download", help="download the competition files into data/ecg (Kaggle CLI)")
    p.add_argument("--dest", help="folder to unzip into (default: data/ecg)")
    p.set_defaults(func=cmd_download)

    p = commands.add_parser("submit", help="submit submissions/ecg.csv (or a kernel's output) to Kaggle")
    p.add_argument("--file", help="submission CSV (default: submissions/ecg.csv)")
    p.add_argument("--message", help="submission description (default: version and git commit)")
    p.add_argument("--kernel", metavar="USER/SLUG",
                   help="submit this kernel's submission.csv instead (code competitions accept only these)")
    p.add_argument("--version", type=int, help="kernel version to submit (with --kernel; default: latest)")
    p.set_defaults(func=cmd_submit)

    p = commands.add_parser("kernels", help="write every kernels/*/ notebook (.ipynb) from its jupytext .py")
    p.set_defaults(func=cmd_kernels)

    p = commands.add_parser("push", help="build and push a kernel folder to Kaggle")
    p.add_argument("--kernel", metavar="DIR", help=f"kernel folder (default: kernels/{DEFAULT_KERNEL})")
    p.set_defaults(func=cmd_push)

    p = commands.add_parser("kaggle-dataset", help="build the wheels-and-weights dataset for offline kernels")
    p.add_argument("--out", metavar="DIR", help="output folder (default: work/kaggle-dataset)")
    p.add_argument("--extra", nargs="*", default=[], metavar="PKG",
                   help="more packages to ship as wheels (version from requirements.txt or the venv)")
    p.add_argument("--no-deps-download", action="store_true",
                   help="skip downloading dependency wheels (offline; the project wheel only)")
    p.add_argument("--upload", action="store_true", help="then create or version the dataset on Kaggle")
    p.add_argument("--message", help="version notes for --upload")
    p.set_defaults(func=cmd_kaggle_dataset)
