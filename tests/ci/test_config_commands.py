"""The config file beyond check / scan: the history store (`db`, `record`), `usage`, `fix`,
`monitor` and `report` — each set from the file, beaten by the environment and by a flag,
and each mistake named with file, line and key (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmsguard.store import History, RunKind, open_database
from tests.usage.generator import standard_scenario

KEY = "arn:aws:kms:eu-west-1:111122223333:key/0000aaaa-0000-4000-8000-000000000001"


@pytest.fixture(autouse=True)
def _no_db_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMSGUARD_DB", raising=False)


def _db_with_runs(path: Path, runs: int) -> str:
    url = f"sqlite:///{path}"
    h = History(open_database(url))
    for _ in range(runs):
        h.record_run(RunKind.AWS, ["111122223333/eu-west-1"], [], complete=True)
    h.engine.dispose()
    return url


def _runs(report_json: str) -> int:
    runs = json.loads(report_json)["runs"]
    return runs if isinstance(runs, int) else len(runs)


def test_report_db_and_format_from_the_file_then_environment_then_flag(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = _db_with_runs(repo / "one.db", 1)
    two = _db_with_runs(repo / "two.db", 2)
    three = _db_with_runs(repo / "three.db", 3)
    monkeypatch.chdir(repo)
    (repo / ".kmsguard.toml").write_text(f'db = "{one}"\n\n[report]\nformat = "json"\n')
    run = kmsguard("report")
    assert run.code == 0, run.err
    assert _runs(run.out) == 1  # the file's database, the file's format
    monkeypatch.setenv("KMSGUARD_DB", two)
    assert _runs(kmsguard("report").out) == 2  # the environment beats the file
    assert _runs(kmsguard("report", "--db", three).out) == 3  # the flag beats both
    assert kmsguard("report", "--format", "text").out.lstrip()[:1] != "{"

    shown = kmsguard("config", "show", "--format", "json").json()["commands"]
    assert shown["report"]["db"] == {"value": "$KMSGUARD_DB", "from": "environment KMSGUARD_DB"}
    assert shown["report"]["format"]["from"].endswith(".kmsguard.toml:4")
    monkeypatch.delenv("KMSGUARD_DB")
    shown = kmsguard("config", "show", "--format", "json").json()["commands"]
    assert shown["fix"]["db"] == {"value": one, "from": f"{repo / '.kmsguard.toml'}:1"}


def test_scan_iac_records_where_the_file_says(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = repo / "history.db"
    monkeypatch.chdir(repo)
    (repo / ".kmsguard.toml").write_text(
        'record = true\ndb = "sqlite:///history.db"\n\n[iac]\nfail-on = "critical"\n'
    )  # a relative SQLite file is relative to the config file's folder
    monkeypatch.chdir(repo / "infra")
    assert kmsguard("scan", "iac", "cfn/partner.yaml").code == 0
    monkeypatch.chdir(repo)
    h = History(open_database(f"sqlite:///{db}"))
    assert [r.kind for r in h.runs()] == ["iac"]
    (repo / ".kmsguard.toml").write_text(
        f'record = true\ndb = "sqlite:///{db}"\n\n[iac]\nrecord = false\n'
    )
    kmsguard("scan", "iac", "infra/cfn/partner.yaml")
    assert len(h.runs()) == 1  # the section's `record = false` wins for scan iac
    h.engine.dispose()


def test_usage_sources_and_format_from_the_file(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standard_scenario().write(repo / "trail")
    monkeypatch.chdir(repo / "infra")  # sources are relative to the file's folder
    (repo / ".kmsguard.toml").write_text(
        'account = "111122223333"\n\n[usage]\nsources = ["trail"]\nformat = "json"\njobs = 1\n'
    )
    run = kmsguard("usage")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["zone_accounts"] == ["111122223333"]
    monkeypatch.setenv("KMSGUARD_ACCOUNT", "444455556666")  # environment beats the file
    assert json.loads(kmsguard("usage").out)["zone_accounts"] == ["444455556666"]
    text = kmsguard("usage", "--format", "text")  # the flag beats the file
    assert text.code == 0
    assert not text.out.lstrip().startswith("{")
    shown = kmsguard("config", "show", "--format", "json").json()["commands"]["usage"]
    assert shown["sources"]["value"] == [str(repo.resolve() / "trail")]
    assert shown["account"]["from"] == "environment KMSGUARD_ACCOUNT"


def test_fix_takes_its_section_without_a_config_flag(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fix` has no --config: the file is found (or named by KMSGUARD_CONFIG) as usual."""
    db = _db_with_runs(repo / "fix.db", 0)
    monkeypatch.chdir(repo)
    (repo / ".kmsguard.toml").write_text(f'[fix]\nformat = "json"\ndb = "{db}"\n')
    run = kmsguard("fix", "history", "--key", KEY)
    assert run.code == 0, run.err
    assert json.loads(run.out) is not None  # the file's format
    assert not kmsguard("fix", "history", "--key", KEY, "--format", "text").out.startswith("[")
    (repo / "elsewhere.toml").write_text('[fix]\nformat = "text"\n')
    monkeypatch.setenv("KMSGUARD_CONFIG", str(repo / "elsewhere.toml"))
    assert not kmsguard("fix", "history", "--key", KEY).out.lstrip().startswith(("[", "{"))
    monkeypatch.delenv("KMSGUARD_CONFIG")
    shown = kmsguard("config", "show", "--format", "json").json()["commands"]["fix"]
    assert shown["format"] == {"value": "json", "from": f"{repo / '.kmsguard.toml'}:2"}
    assert shown["strategy"] == {"value": "principals", "from": "default"}


def test_monitor_section_in_config_show(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    (repo / ".kmsguard.toml").write_text(
        'org-id = "o-abcdefghij"\n[monitor]\nqueue-url = "https://sqs.eu-west-1.amazonaws.com/'
        '111122223333/kms"\nbatch-size = 5\nrecord = true\nlog-level = "info"\n'
    )
    shown = kmsguard("config", "show", "--format", "json").json()["commands"]["monitor"]
    assert shown["batch-size"]["value"] == 5
    assert shown["record"]["value"] is True
    assert shown["org-id"]["from"].endswith(".kmsguard.toml:1")
    assert shown["queue-url"]["value"].endswith("/kms")


def test_monitor_replay_records_where_file_environment_or_flag_say(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.monitor.events import public_policy, put_policy

    events = repo / "events"
    events.mkdir()
    (events / "e.json").write_text(json.dumps(put_policy(public_policy(), event_id="pub")))
    monkeypatch.chdir(repo)

    def open_findings(db: Path) -> int:
        if not db.exists():
            return 0
        h = History(open_database(f"sqlite:///{db}"))
        count = len(h.findings())
        h.engine.dispose()
        return count

    (repo / ".kmsguard.toml").write_text(
        '[monitor]\nrecord = true\ndb = "sqlite:///file.db"\nlog-level = "error"\n'
    )
    run = kmsguard("monitor", "replay", "events")
    assert run.code == 0, run.err
    assert open_findings(repo / "file.db") == 1  # the file's db and record
    monkeypatch.setenv("KMSGUARD_DB", f"sqlite:///{repo / 'env.db'}")
    kmsguard("monitor", "replay", "events")
    assert open_findings(repo / "env.db") == 1  # the environment beats the file
    kmsguard("monitor", "replay", "events", "--db", f"sqlite:///{repo / 'flag.db'}")
    assert open_findings(repo / "flag.db") == 1  # the flag beats both
    assert open_findings(repo / "file.db") == 1


@pytest.mark.parametrize(
    ("text", "argv", "expected"),
    [
        ('record = "yes"\n', ["report"], [":1: `record` must be true or false"]),
        ('db = "postgresql://u:secret@db/k"\n', ["report"], [":1: `db` holds a password"]),
        ('[report]\nformat = "pdf"\n', ["report"], [":2: `report.format` must be one of"]),
        ('[report]\ndbs = "x"\n', ["report"], [":2: `report.dbs` is not a setting of [report]"]),
        ('[usage]\njobs = "4"\n', ["usage", "x"], [":2: `usage.jobs` must be a whole number"]),
        ('[usage]\n\nengine = "spark"\n', ["usage"], [":3: `usage.engine` must be one of"]),
        ('[usage]\nsince = 90\n', ["usage"], [":2: `usage.since` must be a string"]),
        ('[usage]\nkey = "k"\n', ["usage"], [":2: `usage.key` is not a setting of [usage]"]),
        ('[fix]\nstrategy = 1\n', ["fix", "history", "--key", KEY], [":2: `fix.strategy`"]),
        ('[fix]\nyes = true\n', ["fix", "history", "--key", KEY], [":2: `fix.yes` is not a"]),
        ('[fix]\nkeep-external = ["1"]\n', ["fix", "history", "--key", KEY], ["12-digit"]),
        ('[monitor]\nbatch-size = 11\n', ["monitor", "replay", "x"], ["`monitor.batch-size`"]),
        (
            '[monitor]\nwebhook-url = "https://hooks.slack.com/services/T/B/x"\n',
            ["monitor", "replay", "x"],
            [":2: `monitor.webhook-url` is not allowed: a webhook URL is a credential"],
        ),
        ('[monitor]\nqueue = "x"\n', ["monitor", "replay", "x"], ["is not a setting of [monitor]"]),
        ('[aws]\ndeadline = -5\n', ["scan", "aws"], [":2: `aws.deadline` must be a number"]),
        ('[aws]\nrecord = 1\n', ["scan", "aws"], [":2: `aws.record` must be true or false"]),
    ],
)
def test_mistakes_in_the_new_sections_name_file_line_and_key(
    kmsguard: Any,
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    argv: list[str],
    expected: list[str],
) -> None:
    monkeypatch.chdir(repo)
    (repo / ".kmsguard.toml").write_text(text)
    run = kmsguard(*argv)
    assert run.code == 2, run.err
    assert "Traceback" not in run.err
    assert ".kmsguard.toml" in run.err
    for piece in expected:
        assert piece in run.err
    assert kmsguard(*argv[:2], "--help").code == 0  # help still works


def test_the_documented_complete_file_is_valid(tmp_path: Path) -> None:
    """docs/ci.md's complete example sets every key, and every one is accepted."""
    from kmsguard.cli import settings

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ci.md").read_text()
    block = doc.split("```toml\n# .kmsguard.toml (at the repository root)", 1)[1]
    block = block.split("```", 1)[0]
    path = tmp_path / ".kmsguard.toml"
    path.write_text("# .kmsguard.toml" + block)
    loaded = settings.load(path)
    for section, keys in settings.SECTIONS.items():
        table = block.split(f"\n[{section}]", 1)[1].split("\n[", 1)[0]
        written = {line.lstrip("# ").split(" ", 1)[0] for line in table.splitlines()}
        assert set(keys) <= written, f"[{section}] in docs/ci.md lacks {set(keys) - written}"
    assert set(settings.TOP) <= {line.split(" ", 1)[0] for line in block.splitlines()}
    assert loaded.defaults["aws"]["record"] is True
    assert loaded.defaults["report"]["fmt"] == "html"
