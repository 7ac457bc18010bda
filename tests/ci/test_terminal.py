"""The terminal: width from COLUMNS, --quiet/--verbose, NO_COLOR, examples in every
command's --help, shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from kmsguard.cli import cli

POLICIES = Path(__file__).resolve().parents[2] / "src" / "kmsguard" / "demo" / "policies"
KMSGUARD = Path(sys.executable).parent / "kmsguard"


def _lines(text: str) -> list[str]:
    return text.splitlines()


def test_check_at_80_columns_has_no_line_over_80(
    kmsguard: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(POLICIES.parent)
    monkeypatch.setenv("COLUMNS", "80")
    run = kmsguard("check", "policies", "--verbose")
    assert run.code == 3
    long = [line for line in _lines(run.out + run.err) if len(line) > 80]
    assert long == []
    assert "witness:" in run.out
    assert "02-quick-fix-wildcard.json" in run.out.replace("\n", "")
    wide = kmsguard("check", "policies")
    assert wide.code == 3
    monkeypatch.setenv("COLUMNS", "160")
    assert max(len(line) for line in _lines(kmsguard("check", "policies").out)) > 80


def test_without_a_width_detail_lines_stay_whole_for_grep(
    kmsguard: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = kmsguard("check", POLICIES / "03-via-service-only.json")
    witness = [line for line in _lines(run.out) if "witness:" in line]
    assert len(witness) == 1
    assert "kms:viaservice=s3.eu-west-1.amazonaws.com" in witness[0]


def test_quiet_prints_findings_only(kmsguard: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    loud = kmsguard("check", POLICIES)
    quiet = kmsguard("check", POLICIES, "--quiet")
    assert quiet.code == loud.code == 3
    assert "no owner account given" in loud.err
    assert quiet.err == ""
    assert "policies:" in loud.out  # the summary line
    assert "policies:" not in quiet.out
    assert "01-default.json" in loud.out
    assert "01-default.json" not in quiet.out  # private: not a finding
    assert "02-quick-fix-wildcard.json" in quiet.out


def test_verbose_says_what_was_read_and_how_long(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    run = kmsguard("scan", "iac", "infra", "--verbose")
    assert "config file: none found" in run.err
    assert "scanning infra" in run.err
    assert "file(s) read" in run.err
    assert " s\n" in run.err  # a timing
    both = kmsguard("scan", "iac", "infra", "--verbose", "--quiet")
    assert both.code == 2


def test_quiet_scan_iac(kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    run = kmsguard("scan", "iac", "infra", "--quiet")
    assert run.code == 3
    assert "files scanned" not in run.out
    assert " private" not in run.out
    assert "KMS001" in run.out


def test_no_color_is_honoured() -> None:
    """On a real terminal (a pty) colours are used, unless NO_COLOR is set."""
    pty = pytest.importorskip("pty")

    def run(env: dict[str, str]) -> bytes:
        out = b""
        pid, fd = pty.fork()
        if pid == 0:  # the child: kmsguard on a terminal
            os.execve(
                str(KMSGUARD), [str(KMSGUARD), "check", str(POLICIES / "05-partner-account.json")],
                env,
            )
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.waitpid(pid, 0)
        return out

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    assert b"\x1b[" in run(env)
    assert b"\x1b[" not in run({**env, "NO_COLOR": "1"})


def _commands(
    group: click.Group, ctx: click.Context, prefix: tuple[str, ...]
) -> list[tuple[str, ...]]:
    out = []
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        assert sub is not None
        out.append((*prefix, name))
        if isinstance(sub, click.Group):
            out.extend(_commands(sub, ctx, (*prefix, name)))
    return out


def test_every_help_ends_with_real_examples(kmsguard: Any) -> None:
    ctx = click.Context(cli)
    commands = [(), *_commands(cli, ctx, ())]
    assert ("scan", "aws") in commands
    assert ("config", "show") in commands
    for path in commands:
        run = kmsguard(*path, "--help")
        assert run.code == 0, path
        text = run.out
        assert "Examples:" in text, path
        after = text.rsplit("Examples:", 1)[1]
        examples = [line.strip() for line in after.splitlines() if line.strip()]
        assert 2 <= len(examples) <= 3, (path, examples)
        assert all("kmsguard" in e for e in examples), path
        # real examples: the first word after `kmsguard` names this command or a subcommand
        for e in examples:
            words = e.split("kmsguard", 1)[1].split()
            if path:
                assert words[: len(path)] == list(path) or path[0] not in words[:1], (path, e)


def test_version() -> None:
    out = subprocess.run([str(KMSGUARD), "--version"], check=False, capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("kmsguard, version ")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts_and_answers(shell: str) -> None:
    env = {**os.environ, "_KMSGUARD_COMPLETE": f"{shell}_source"}
    script = subprocess.run([str(KMSGUARD)], check=False, env=env, capture_output=True, text=True)
    assert script.returncode == 0
    assert "_KMSGUARD_COMPLETE" in script.stdout
    if shell == "bash":
        env = {
            **os.environ,
            "_KMSGUARD_COMPLETE": "bash_complete",
            "COMP_WORDS": "kmsguard scan ",
            "COMP_CWORD": "2",
        }
        answer = subprocess.run(
            [str(KMSGUARD)], check=False, env=env, capture_output=True, text=True
        )
        assert "plain,aws" in answer.stdout
        assert "plain,iac" in answer.stdout
