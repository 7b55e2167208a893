"""Configuration: file, environment overrides, and errors that name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from blueplane_core import config, paths


def write_config(text: str) -> Path:
    path = paths.config_file()
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    cfg = config.load()
    assert cfg["ingest.processes"] == 1
    assert cfg["ingest.batch_size"] == 200
    assert cfg.embedded_redis


def test_file_values_and_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config("[ingest]\nprocesses = 4\nbatch_size = 50\n")
    monkeypatch.setenv("BLUEPLANE_INGEST_BATCH_SIZE", "25")
    cfg = config.load()
    assert cfg["ingest.processes"] == 4
    assert cfg["ingest.batch_size"] == 25


def test_redis_url_env_selects_external_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLUEPLANE_REDIS_URL", "redis://127.0.0.1:6390/0")
    cfg = config.load()
    assert not cfg.embedded_redis


def test_blueplane_home_moves_the_data_folder(blueplane_home: Path) -> None:
    assert paths.database() == blueplane_home / "telemetry.db"
    assert config.load().file == blueplane_home / "config.toml"


def test_bad_value_names_key_file_and_expectation() -> None:
    path = write_config('[ingest]\nprocesses = "many"\n')
    with pytest.raises(config.ConfigError) as caught:
        config.load()
    message = str(caught.value)
    assert str(path) in message and "ingest.processes" in message and "whole number" in message


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLUEPLANE_INGEST_PROCESSES", "0")
    with pytest.raises(config.ConfigError, match="BLUEPLANE_INGEST_PROCESSES.*at least 1"):
        config.load()


def test_unknown_key_is_an_error_not_ignored() -> None:
    write_config("[ingest]\nprocesess = 3\n")
    with pytest.raises(config.ConfigError, match="unknown key 'ingest.procesess'"):
        config.load()


def test_invalid_toml_names_the_file() -> None:
    path = write_config("[ingest\n")
    with pytest.raises(config.ConfigError, match="not valid TOML") as caught:
        config.load()
    assert str(path) in str(caught.value)


def test_process_exits_with_config_code_and_one_line(tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import PYTHON, python_env

    write_config("[ingest]\nbatch_size = -5\n")
    result = subprocess.run(
        [PYTHON, "-m", "blueplane_ingest", "--burst"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == config.EXIT_CONFIG
    assert "ingest.batch_size" in result.stderr and "Traceback" not in result.stderr


def test_docs_config_md_lists_every_key_as_the_code_defines_it() -> None:
    from tests.conftest import REPO

    assert (REPO / "docs" / "config.md").read_text() == config.reference_markdown(), (
        "regenerate with: blueplane config --markdown > docs/config.md"
    )


def test_origins_say_where_each_value_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config("[ingest]\nprocesses = 3\n")
    monkeypatch.setenv("BLUEPLANE_INGEST_BATCH_SIZE", "10")
    cfg = config.load()
    assert cfg.origins["ingest.processes"] == str(path)
    assert cfg.origins["ingest.batch_size"] == "BLUEPLANE_INGEST_BATCH_SIZE"
    assert cfg.origins["ingest.claim_idle_ms"] == "default"
