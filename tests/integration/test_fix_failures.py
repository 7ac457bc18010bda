"""`kmsguard fix` when things go wrong: a stale plan, AccessDenied on PutKeyPolicy (through a
local proxy in front of moto), and plans that would lock the key's administrators out."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from kmsguard.store import PolicyVersionStore, VersionReason, open_database
from tests.cli import run

from .test_fix_e2e import ACCOUNT, PUBLIC_POLICY, live, role, usage_report

pytestmark = pytest.mark.integration


class _DenyPutKeyPolicy(BaseHTTPRequestHandler):
    """Forwards every request to moto, except PutKeyPolicy: answered AccessDeniedException."""

    upstream: str = ""
    denied: list[str] = []  # noqa: RUF012  # class-level record shared with the test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".PutKeyPolicy"):
            self.denied.append(target)
            payload = json.dumps(
                {
                    "__type": "AccessDeniedException",
                    "message": "User: arn:aws:iam::123456789012:user/ops is not authorized "
                    "to perform: kms:PutKeyPolicy",
                }
            ).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        up = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        conn.request("POST", self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server",
                                 "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        return


@pytest.fixture
def deny_proxy(aws_env: str) -> Iterator[str]:
    handler = type("Handler", (_DenyPutKeyPolicy,), {"upstream": aws_env, "denied": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def kms(aws_env: str) -> Any:
    return boto3.client("kms", region_name="us-east-1")


def _plan(capsys: pytest.CaptureFixture[str], key: str, tmp_path: Path) -> Path:
    usage = tmp_path / "usage.json"
    usage.write_text(json.dumps(usage_report(key)))
    plan = tmp_path / "plan.json"
    code, _, err = run(
        capsys, "fix", "plan", "--key", key, "--usage", str(usage), "--format", "json",
        "--output", str(plan),
    )
    assert code == 0, err
    return plan


def test_apply_refuses_when_live_policy_changed_since_plan(
    kms: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = kms.create_key(Policy=PUBLIC_POLICY)["KeyMetadata"]["Arn"]
    plan = _plan(capsys, key, tmp_path)
    changed = json.loads(PUBLIC_POLICY)
    changed["Statement"][1]["Action"].append("kms:CreateGrant")
    changed_text = json.dumps(changed)
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=changed_text)

    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    code, _out, err = run(
        capsys, "fix", "apply", "--key", key, "--plan", str(plan), "--yes", "--db", db,
        "--backup-dir", str(tmp_path / "backups"),
    )
    assert code == 2
    assert "refused (stale)" in err
    assert "changed since the plan" in err
    assert live(kms, key) == changed_text
    assert PolicyVersionStore(open_database(db)).versions(key) == ()


def test_apply_accepts_same_policy_reformatted(
    kms: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a change of content makes a plan stale, not a change of whitespace."""
    key = kms.create_key(Policy=PUBLIC_POLICY)["KeyMetadata"]["Arn"]
    plan = _plan(capsys, key, tmp_path)
    kms.put_key_policy(
        KeyId=key, PolicyName="default", Policy=json.dumps(json.loads(PUBLIC_POLICY), indent=4)
    )
    code, out, err = run(
        capsys, "fix", "apply", "--key", key, "--plan", str(plan), "--db",
        f"sqlite:///{tmp_path / 'db.sqlite3'}", "--backup-dir", str(tmp_path / "b"),
    )
    assert code == 0, err
    assert "dry-run" in out


def test_access_denied_on_put_key_policy_loses_nothing(
    kms: Any,
    deny_proxy: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = kms.create_key(Policy=PUBLIC_POLICY)["KeyMetadata"]["Arn"]
    plan = _plan(capsys, key, tmp_path)
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    backups = tmp_path / "backups"

    monkeypatch.setenv("AWS_ENDPOINT_URL", deny_proxy)
    code, _out, err = run(
        capsys, "fix", "apply", "--key", key, "--plan", str(plan), "--yes", "--db", db,
        "--backup-dir", str(backups),
    )
    assert code == 4
    assert "access denied: kms:PutKeyPolicy" in err
    assert "was not changed" in err
    assert "saved as version 1" in err
    # the live policy is untouched (read straight from moto, not through the proxy)
    assert live(kms, key) == PUBLIC_POLICY
    # and the previous policy is saved twice over
    versions = PolicyVersionStore(open_database(db)).versions(key)
    assert [(v.reason, v.policy) for v in versions] == [
        (VersionReason.BEFORE_APPLY, PUBLIC_POLICY)
    ]
    files = list(backups.glob("*.json"))
    assert len(files) == 1
    assert json.loads(files[0].read_text())["policy"] == PUBLIC_POLICY


ADMINLESS_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:*",
             "Resource": "*"}
        ],
    }
)


def test_plan_that_would_lock_out_admins_is_refused(
    kms: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The only path to PutKeyPolicy is the public statement, and nobody was seen managing
    the key: naming the observed callers would leave nobody able to manage it."""
    key = kms.create_key(Policy=ADMINLESS_POLICY)["KeyMetadata"]["Arn"]
    usage = tmp_path / "usage.json"
    usage.write_text(json.dumps(usage_report(key)))
    plan = tmp_path / "plan.json"
    code, _out, err = run(
        capsys, "fix", "plan", "--key", key, "--usage", str(usage), "--format", "json",
        "--output", str(plan),
    )
    assert code == 2
    assert "no plan offered" in err
    assert "lockout" in err
    data = json.loads(plan.read_text())
    assert data["offered"] is False
    assert data["lockout_ok"] is False

    # applying the refused plan anyway is refused again, before anything is saved or written
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    code, _out, err = run(
        capsys, "fix", "apply", "--key", key, "--plan", str(plan), "--yes", "--db", db,
        "--backup-dir", str(tmp_path / "b"),
    )
    assert code == 2
    assert "refused (unsafe)" in err
    assert "lockout" in err
    assert live(kms, key) == ADMINLESS_POLICY
    assert PolicyVersionStore(open_database(db)).versions(key) == ()


def test_hand_edited_plan_that_drops_admin_statement_is_refused(
    kms: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = kms.create_key(Policy=PUBLIC_POLICY)["KeyMetadata"]["Arn"]
    plan = _plan(capsys, key, tmp_path)
    data = json.loads(plan.read_text())
    data["new_policy"]["Statement"] = [
        s for s in data["new_policy"]["Statement"] if s.get("Sid") != "Enable IAM User Permissions"
    ]
    plan.write_text(json.dumps(data))
    code, _out, err = run(
        capsys, "fix", "apply", "--key", key, "--plan", str(plan), "--yes", "--db",
        f"sqlite:///{tmp_path / 'db.sqlite3'}", "--backup-dir", str(tmp_path / "b"),
    )
    assert code == 2
    assert "refused (unsafe)" in err
    assert f"arn:aws:iam::{ACCOUNT}:root" in err
    assert live(kms, key) == PUBLIC_POLICY


def test_rollback_refuses_when_policy_changed_after_apply(
    kms: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = kms.create_key(Policy=PUBLIC_POLICY)["KeyMetadata"]["Arn"]
    plan = _plan(capsys, key, tmp_path)
    opts = ["--db", f"sqlite:///{tmp_path / 'db.sqlite3'}", "--backup-dir", str(tmp_path / "b")]
    code, _, err = run(capsys, "fix", "apply", "--key", key, "--plan", str(plan), "--yes", *opts)
    assert code == 0, err
    someone_else = json.loads(live(kms, key))
    someone_else["Statement"].append(
        {"Sid": "Audit", "Effect": "Allow", "Principal": {"AWS": role("auditor")},
         "Action": "kms:DescribeKey", "Resource": "*"}
    )
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(someone_else))
    code, _out, err = run(capsys, "fix", "rollback", "--key", key, "--yes", *opts)
    assert code == 2
    assert "refused (stale)" in err
    assert "--force" in err
    assert json.loads(live(kms, key)) == someone_else
    code, _out, err = run(
        capsys, "fix", "rollback", "--key", key, "--yes", "--force", "--allow-exposed", *opts
    )
    assert code == 0, err
    assert live(kms, key) == PUBLIC_POLICY
