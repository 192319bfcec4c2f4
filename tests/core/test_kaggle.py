"""The kaggle CLI wrappers: credentials first, the right argv, one-line errors. No network: a fake CLI."""

from __future__ import annotations

import json
import stat
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.core import kaggle
from pipeline.core.errors import PipelineError

SLUG = "physionet-ecg-image-digitization"
# Records its argv (one line per argument, a blank line after each call); for every `--path DIR` it drops
# $FAKE_ZIP into DIR (a download) and keeps a copy of DIR's metadata files (a push or an upload);
# exits 1 with two stderr lines when its second argument is $FAKE_FAIL_ON.
FAKE_KAGGLE = """#!/bin/sh
printf '%s\\n' "$@" >> "$FAKE_LOG"; echo >> "$FAKE_LOG"
if [ "$2" = "$FAKE_FAIL_ON" ]; then echo "progress noise" >&2; echo "403 - Forbidden - accept the rules" >&2; exit 1; fi
prev=""
for a in "$@"; do
  if [ "$prev" = "--path" ]; then
    [ -n "$FAKE_ZIP" ] && cp "$FAKE_ZIP" "$a/"
    cp "$a"/*-metadata.json "$FAKE_SEEN/" 2>/dev/null
  fi
  prev="$a"
done
exit 0
"""


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME without any Kaggle credentials and no KAGGLE_* variables; returns HOME."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_credentials: Path) -> Path:
    """A fake `kaggle` first on PATH; returns its argv log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "kaggle"
    exe.write_text(FAKE_KAGGLE)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    seen = tmp_path / "seen"
    seen.mkdir()
    log = tmp_path / "argv.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_SEEN", str(seen))
    monkeypatch.delenv("FAKE_FAIL_ON", raising=False)
    monkeypatch.delenv("FAKE_ZIP", raising=False)
    return log


def calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [block.split("\n") for block in log.read_text().split("\n\n") if block.strip()]


def login(monkeypatch: pytest.MonkeyPatch, user: str = "alice") -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", user)
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef")


def make_kernel(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "kernel-metadata.json").write_text(json.dumps({
        "id": "<username>/ecg-digitization", "code_file": "k.ipynb", "dataset_sources": ["<username>/wheels"]}))
    (folder / "k.ipynb").write_text("{}")
    return folder


# ---------------------------------------------------------------- credentials
def test_credential_sources(no_credentials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not kaggle.has_credentials()
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    assert not kaggle.has_credentials()  # a user name alone is not a credential
    monkeypatch.setenv("KAGGLE_KEY", "k")
    assert kaggle.has_credentials()
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_x")
    assert kaggle.has_credentials()
    monkeypatch.delenv("KAGGLE_API_TOKEN")

    (no_credentials / ".kaggle").mkdir()
    (no_credentials / ".kaggle" / "kaggle.json").write_text('{"username": "bob", "key": "k"}')
    assert kaggle.has_credentials() and kaggle.username() == "bob"

    elsewhere = tmp_path / "cfg"
    elsewhere.mkdir()
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(elsewhere))
    assert not kaggle.has_credentials()  # KAGGLE_CONFIG_DIR replaces ~/.kaggle for kaggle.json
    (elsewhere / "kaggle.json").write_text('{"username": "carol", "key": "k"}')
    assert kaggle.username() == "carol"


@pytest.mark.parametrize("call", [
    lambda tmp: kaggle.download(SLUG, tmp / "data"),
    lambda tmp: kaggle.submit(tmp / "sub.csv", "m", SLUG),
    lambda tmp: kaggle.submit_kernel("alice/k", "m", SLUG),
    lambda tmp: kaggle.push_kernel(make_kernel(tmp / "kernel")),
    lambda tmp: kaggle.dataset_create_or_version(tmp),
], ids=["download", "submit", "submit_kernel", "push_kernel", "dataset"])
def test_no_credentials_is_one_clear_line_and_no_call(call, fake_cli: Path, tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as err:
        call(tmp_path)
    assert str(err.value) == kaggle.NO_CREDENTIALS
    assert "\n" not in str(err.value) and "~/.kaggle/" in str(err.value) and "KAGGLE_KEY" in str(err.value)
    assert calls(fake_cli) == []


# ---------------------------------------------------------------- argv
def test_download_unzips_into_dest(fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    login(monkeypatch)
    archive = tmp_path / f"{SLUG}.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("train.csv", "id,fs,sig_len\n")
        z.writestr("test/1.png", b"png")
    monkeypatch.setenv("FAKE_ZIP", str(archive))
    dest = tmp_path / "data" / "ecg"
    kaggle.download(SLUG, dest)
    assert calls(fake_cli) == [["competitions", "download", SLUG, "--path", str(dest)]]
    assert (dest / "train.csv").is_file() and (dest / "test" / "1.png").is_file()
    assert not list(dest.glob("*.zip"))


def test_submit_argv(fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    login(monkeypatch)
    sub = tmp_path / "ecg.csv"
    sub.write_text("id,value\n")
    kaggle.submit(sub, "first try", SLUG)
    kaggle.submit_kernel("alice/ecg-digitization", "kernel try", SLUG, version=3)
    assert calls(fake_cli) == [
        ["competitions", "submit", SLUG, "--file", str(sub), "--message", "first try"],
        ["competitions", "submit", SLUG, "--kernel", "alice/ecg-digitization", "--file", "submission.csv",
         "--message", "kernel try", "--version", "3"],
    ]


def test_submit_missing_file_names_it(fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    login(monkeypatch)
    with pytest.raises(PipelineError, match="submission file not found"):
        kaggle.submit(tmp_path / "nope.csv", "m", SLUG)
    assert calls(fake_cli) == []


def test_push_kernel_fills_username(fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    login(monkeypatch, "alice")
    folder = make_kernel(tmp_path / "kernel")
    assert kaggle.push_kernel(folder) == "alice/ecg-digitization"
    (call,) = calls(fake_cli)
    assert call[:3] == ["kernels", "push", "--path"] and len(call) == 4
    pushed = json.loads((tmp_path / "seen" / "kernel-metadata.json").read_text())
    assert pushed["id"] == "alice/ecg-digitization" and pushed["dataset_sources"] == ["alice/wheels"]
    assert "<username>" in (folder / "kernel-metadata.json").read_text()  # the source stays generic
    assert not Path(call[3]).exists()  # the staged copy is removed


def test_push_needs_a_user_name(fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_x")  # a token does not say who we are
    with pytest.raises(PipelineError, match="KAGGLE_USERNAME"):
        kaggle.push_kernel(make_kernel(tmp_path / "kernel"))
    assert calls(fake_cli) == []


def test_dataset_create_then_version(fake_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    login(monkeypatch, "alice")
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "dataset-metadata.json").write_text('{"id": "<username>/ecg-pipeline-wheels", "title": "t"}')
    monkeypatch.setenv("FAKE_FAIL_ON", "status")  # the dataset does not exist yet
    assert kaggle.dataset_create_or_version(folder, "v1") == "alice/ecg-pipeline-wheels"
    monkeypatch.delenv("FAKE_FAIL_ON")
    kaggle.dataset_create_or_version(folder, "v2")
    status1, create, status2, version = calls(fake_cli)
    assert status1 == status2 == ["datasets", "status", "alice/ecg-pipeline-wheels"]
    assert create[:3] == ["datasets", "create", "--path"]
    assert version[:3] == ["datasets", "version", "--path"] and version[4:] == ["--message", "v2"]
    assert json.loads((tmp_path / "seen" / "dataset-metadata.json").read_text())["id"] == "alice/ecg-pipeline-wheels"


# ---------------------------------------------------------------- failures
def test_nonzero_exit_gives_last_stderr_line(fake_cli: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    login(monkeypatch)
    monkeypatch.setenv("FAKE_FAIL_ON", "download")
    with pytest.raises(PipelineError) as err:
        kaggle.download(SLUG, tmp_path / "data")
    assert str(err.value) == "`kaggle competitions download` failed: 403 - Forbidden - accept the rules"


def test_kaggle_not_installed(no_credentials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    login(monkeypatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(sys, "executable", str(empty / "python"))  # no kaggle beside the venv's python
    with pytest.raises(PipelineError) as err:
        kaggle.submit_kernel("alice/k", "m", SLUG)
    assert str(err.value) == kaggle.NO_CLI


# ---------------------------------------------------------------- the CLI
@pytest.mark.parametrize("argv", [["ecg", "push"], ["ecg", "download"], ["ecg", "submit"],
                                  ["ecg", "kaggle-dataset", "--upload"]])
def test_cli_without_credentials_fails_with_one_line(argv: list[str], fake_cli: Path, capsys,
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("PIPELINE_DATA", str(tmp_path / "data"))
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {kaggle.NO_CREDENTIALS}"]
    assert calls(fake_cli) == []
    assert not (tmp_path / "work").exists()  # nothing built before the credentials check
