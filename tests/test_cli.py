import subprocess
import sys

from pipeline.cli import main


def test_unknown_task_is_one_clear_line(capsys) -> None:
    assert main(["nosuchtask", "stage0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown TASK 'nosuchtask'" in err[0]


def test_help_lists_tasks() -> None:
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "ecg" in out.stdout
