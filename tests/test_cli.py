"""The `rag` command: friendly errors, exit codes, and the index sub-command end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cli.main import main
from tests.conftest import ROOT


def run_rag(*args, env_data=None, cwd=None):
    import os

    env = {**os.environ}
    if env_data:
        env["RAG_DATA_DIR"] = str(env_data)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=600
    )


def test_unknown_option_is_a_usage_error_without_traceback():
    result = run_rag("index", "--no-such-option")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr and "Traceback" not in result.stderr


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    code = main(["index", str(tmp_path / "missing"), "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 1 and "error: no indexable documents" in err and "missing: no such file" in err


def test_eval_of_a_missing_set_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "missing.jsonl"), "--data-dir", str(tmp_path)]) == 1
    assert "no such evaluation set" in capsys.readouterr().err


def test_asking_before_any_index_names_the_command_that_builds_it(tmp_path):
    result = run_rag("ask", "anything", "--generator", "extractive", env_data=tmp_path / "empty")
    assert result.returncode == 1 and "rag index" in result.stderr and "Traceback" not in result.stderr


def test_every_error_a_user_can_fix_is_one_user_error():
    """The CLI and the chat treat exactly the UserError family as "the user can fix this"."""
    from eval.errors import EvalSetError
    from index.embedder import EmbedderUnavailable
    from index.errors import ConfigError, DocumentError, ModelError, StoreError, UserError
    from index.loaders import LoaderError
    from index.pipeline import NothingToIndex
    from index.second_embedder import SecondEmbedderUnavailable
    from index.store_api import IndexBusy, IndexCorrupt, IndexMissing, StoreUnavailable
    from index.tokens import TokenizerUnavailable
    from rag.engine import EmptyQuestion
    from rag.generation.base import GeneratorUnavailable
    from rag.library import UploadRejected
    from rag.weights import ModelIntegrityError, ModelUnavailable

    areas = {
        DocumentError: [LoaderError, NothingToIndex, UploadRejected],
        StoreError: [IndexMissing, IndexCorrupt, IndexBusy, StoreUnavailable],
        ModelError: [
            EmbedderUnavailable,
            SecondEmbedderUnavailable,
            TokenizerUnavailable,
            GeneratorUnavailable,
            ModelUnavailable,
            ModelIntegrityError,
        ],
        UserError: [ConfigError, DocumentError, StoreError, ModelError, EmptyQuestion, EvalSetError],
    }
    for area, errors in areas.items():
        assert [e for e in errors if not issubclass(e, area)] == [], area
    assert not issubclass(UserError, (ValueError, RuntimeError, OSError))  # never caught by accident


def test_a_programming_error_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    """Only UserErrors are one `error:` line: a bug (here a ValueError from inside the indexer) must
    reach the user with its traceback, not look like a mistake of theirs."""

    def broken_build(*args, **kwargs):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr("index.pipeline.build_index", broken_build)
    with pytest.raises(ValueError, match="an internal inconsistency"):
        main(["index", str(tmp_path), "--data-dir", str(tmp_path / "data")])
    assert "error:" not in capsys.readouterr().err


def test_every_setting_has_its_variable_and_its_default_in_the_readme():
    """Config is the one source of the defaults: the README's settings table names every field's
    RAG_* variable with Config's default (the paths and the CPU count aside)."""
    import re
    from dataclasses import MISSING, fields

    from index.config import Config

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {
        variable: cells[1]
        for line in readme.splitlines()
        if line.startswith("| `RAG_") and (cells := [c.strip() for c in line.strip("|").split("|")])
        for variable in re.findall(r"`(RAG_\w+)`", cells[0])
    }
    for f in fields(Config):
        variable = f"RAG_{f.name.upper()}"
        assert variable in rows, variable
        if f.default is not MISSING and f.name not in ("store", "model_path", "auth"):  # empty = off
            defaults = re.findall(r"`([^`]+)`", rows[variable])
            assert str(f.default) in defaults, (variable, defaults)


def test_settings_come_from_the_environment_and_bad_values_are_one_error(monkeypatch, capsys):
    from index.config import Config
    from index.errors import ConfigError

    monkeypatch.setenv("RAG_TOP_K", "8")
    monkeypatch.setenv("RAG_ABSTAIN_BELOW", "0.35")
    monkeypatch.setenv("RAG_CONTEXT_TOKENS", "900")
    config = Config.load(context_tokens=None)  # None: not given, the environment's value stays
    assert (config.top_k, config.abstain_below, config.context_tokens) == (8, 0.35, 900)
    assert Config().top_k == 5  # Config() alone takes no environment into account
    monkeypatch.setenv("RAG_ABSTAIN_BELOW", "low")
    with pytest.raises(ConfigError, match="RAG_ABSTAIN_BELOW='low' is not a number"):
        Config.load()
    assert main(["ask", "anything"]) == 1
    assert capsys.readouterr().err == "error: RAG_ABSTAIN_BELOW='low' is not a number\n"
