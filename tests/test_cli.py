"""The `rag` command: friendly errors, exit codes, and the index sub-command end to end."""

from __future__ import annotations

import subprocess
import sys

from cli.main import main
from tests.conftest import ROOT


def run_rag(*args, env_data=None, cwd=None):
    import os

    env = {**os.environ}
    if env_data:
        env["RAG_DATA_DIR"] = str(env_data)
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=600)


def test_unknown_option_is_a_usage_error_without_traceback():
    result = run_rag("index", "--no-such-option")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr and "Traceback" not in result.stderr


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    code = main(["index", str(tmp_path / "missing"), "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 1 and "error: no indexable documents" in err and "missing: no such file" in err


def test_not_yet_available_commands_say_so(tmp_path, capsys):
    for command in ("chat", "eval"):
        assert main([command, "--data-dir", str(tmp_path)]) == 2
        assert "not available yet" in capsys.readouterr().err
