# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # PhysioNet ECG image digitization: offline inference
#
# Internet is off in this competition, so the project is installed from the attached dataset of wheels
# and weights (`make kaggle-dataset`). The notebook finds the competition files, runs the pipeline's
# stage2 (digitize every test image) and writes `/kaggle/working/submission.csv`.
#
# Every location can be moved by an environment variable (the project's test runs this notebook on a
# fake tree): `KAGGLE_INPUT_DIR` (default `/kaggle/input`), `KAGGLE_WORKING_DIR` (`/kaggle/working`),
# `ECG_COMPETITION_DIR` (found under the input dir when unset), `ECG_WHEELS_DIR` (found likewise) and
# `PIPELINE_SCRATCH_DIR` (`/tmp/pipeline`, for intermediate results kept out of the kernel's output).

# %%
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

INPUT = Path(os.environ.get("KAGGLE_INPUT_DIR", "/kaggle/input"))
WORKING = Path(os.environ.get("KAGGLE_WORKING_DIR", "/kaggle/working"))
SCRATCH = Path(os.environ.get("PIPELINE_SCRATCH_DIR", "/tmp/pipeline"))
WHEELS_SLUG = "ecg-pipeline-wheels"


def find_wheels() -> Path | None:
    """The attached wheels dataset: /kaggle/input/<slug> or one or two levels deeper (newer mounts)."""
    if os.environ.get("ECG_WHEELS_DIR"):
        return Path(os.environ["ECG_WHEELS_DIR"])
    for candidate in [INPUT / WHEELS_SLUG, *sorted(INPUT.glob(f"*/{WHEELS_SLUG}")),
                      *sorted(INPUT.glob(f"*/*/{WHEELS_SLUG}"))]:
        if (candidate / "requirements.txt").is_file():
            return candidate
    return None


WHEELS = find_wheels()
print("wheels dataset:", WHEELS)


# %% [markdown]
# ## Install the project offline (skipped when it already imports)

# %%
try:
    from pipeline.cli import main, set_threads
except ModuleNotFoundError:
    if WHEELS is None:
        raise FileNotFoundError(f"attach the dataset '{WHEELS_SLUG}' (made by `make kaggle-dataset`)") from None
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--find-links",
                    str(WHEELS), "-r", str(WHEELS / "requirements.txt")], check=True)
    importlib.invalidate_caches()
    from pipeline.cli import main, set_threads

set_threads()  # thread caps before numpy, torch and numba load
import pipeline  # noqa: E402

print("pipeline", pipeline.__version__, "from", Path(pipeline.__file__).parent)

# %% [markdown]
# ## Find the competition data and lay out the pipeline's folders
#
# stage2 reads `$PIPELINE_DATA/ecg/`. It only needs the test side, so that folder gets links to the
# competition's top-level files and `test/` (not the large `train/`, which would only be indexed).

# %%
from pipeline.ecg.formats.competition import find_competition  # noqa: E402

competition = find_competition(Path(os.environ.get("ECG_COMPETITION_DIR") or INPUT))
print("competition data:", competition.root)

shutil.rmtree(SCRATCH, ignore_errors=True)
data = SCRATCH / "data" / "ecg"
data.mkdir(parents=True)
for entry in sorted(competition.root.iterdir()):
    if entry.name != "train":
        (data / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())

os.environ["PIPELINE_DATA"] = str(SCRATCH / "data")
os.environ["PIPELINE_WORK"] = str(SCRATCH / "work")
os.environ["PIPELINE_SUBMISSIONS"] = str(SCRATCH / "submissions")

# Model files shipped in the dataset (a trained work/ecg/model/) go where stage2 looks for them.
if WHEELS is not None and (WHEELS / "model-files.txt").is_file():
    model_dir = SCRATCH / "work" / "ecg" / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in (WHEELS / "model-files.txt").read_text().split():
        shutil.copy2(WHEELS / name, model_dir / name)

# %% [markdown]
# ## Digitize the test images (stage2) and write the submission

# %%
if main(["ecg", "stage2"]) != 0:
    raise RuntimeError("stage2 failed; see the error line above")

WORKING.mkdir(parents=True, exist_ok=True)
shutil.copyfile(SCRATCH / "submissions" / "ecg.csv", WORKING / "submission.csv")

# %%
import pandas as pd  # noqa: E402

from pipeline.ecg.formats.submission import read_sample_submission, validate_submission  # noqa: E402

submission = pd.read_csv(WORKING / "submission.csv", dtype={"id": str})
validate_submission(submission, read_sample_submission(competition.sample_submission), WORKING / "submission.csv")
print(f"{WORKING / 'submission.csv'}: {len(submission)} rows, valid")
submission.head()
