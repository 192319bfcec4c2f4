import json
from pathlib import Path

import pytest

from pipeline.core.manifest import manifest_path, run_stage


@pytest.fixture(autouse=True)
def work_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIPELINE_WORK", str(tmp_path / "work"))
    return tmp_path


def test_stage_skipped_when_unchanged_and_rerun_when_input_changes(tmp_path: Path) -> None:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("v1")
    calls = []

    def action() -> dict:
        calls.append(1)
        out.write_text(src.read_text().upper())
        return {"n": len(calls)}

    assert run_stage("t", "s", action, [src], [out], {"k": 1}, log=lambda _: None)
    assert not run_stage("t", "s", action, [src], [out], {"k": 1}, log=lambda _: None)
    src.write_text("v2")
    assert run_stage("t", "s", action, [src], [out], {"k": 1}, log=lambda _: None)
    assert not run_stage("t", "s", action, [src], [out], {"k": 1}, log=lambda _: None)
    assert run_stage("t", "s", action, [src], [out], {"k": 2}, log=lambda _: None)  # config changed
    out.unlink()
    assert run_stage("t", "s", action, [src], [out], {"k": 2}, log=lambda _: None)  # output lost
    manifest = json.loads(manifest_path("t", "s").read_text())
    assert manifest["results"] == {"n": 4}
    assert manifest["config"] == {"k": 2}
    assert "numpy" in manifest["versions"]


def test_failed_stage_writes_no_manifest(tmp_path: Path) -> None:
    def action() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_stage("t", "broken", action, [], [], {}, log=lambda _: None)
    assert not manifest_path("t", "broken").exists()
