"""Privacy helpers: what may leave capture, and keyed hashes that cannot be guessed."""

from __future__ import annotations

import os
import stat

import pytest

from blueplane_core import paths, privacy


@pytest.mark.parametrize(
    ("path", "ext"),
    [("/home/dev/app/main.PY", ".py"), ("C:\\src\\x.tsx", ".tsx"), ("Makefile", ""), (None, "")],
)
def test_only_the_extension_of_a_path_remains(path: str | None, ext: str) -> None:
    assert privacy.file_extension(path) == ext


@pytest.mark.parametrize(
    ("command", "program"),
    [
        ("git commit -m 'secret plans'", "git"),
        ("FOO=1 sudo /usr/bin/python3 -c 'print(1)'", "python3"),
        ("env -i npm test", "npm"),
        ("echo 'unterminated", "echo"),
        ("", ""),
    ],
)
def test_commands_reduce_to_the_program_name(command: str, program: str) -> None:
    assert privacy.program_name(command) == program


def test_keyed_hashes_are_stable_per_installation_and_differ_across() -> None:
    secret = privacy.load_secret()
    assert privacy.load_secret() == secret  # created once, then reused
    first = privacy.keyed_hash(secret, "/home/dev/app", "workspace")
    assert first == privacy.keyed_hash(secret, "/home/dev/app", "workspace")
    assert first != privacy.keyed_hash(secret, "/home/dev/app", "branch")
    assert first != privacy.keyed_hash(os.urandom(32), "/home/dev/app", "workspace")
    assert "/home" not in first


def test_secret_file_is_private() -> None:
    privacy.load_secret()
    assert stat.S_IMODE(paths.secret_file().stat().st_mode) == 0o600


def test_forbidden_keys_are_refused_anywhere_inside() -> None:
    privacy.check_sanitized({"tool_name": "Bash", "program": "git"})
    with pytest.raises(privacy.PrivacyViolation, match="payload.calls.prompt"):
        privacy.check_sanitized({"calls": [{"prompt": "hi"}]})
