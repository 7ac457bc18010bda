"""deploy/monitor.yaml and monitor-forwarder.yaml: valid for cfn-lint, private for
`kmsguard scan iac`, and in step with the code (handler, environment, events, actions)."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from kmsguard.monitor import MONITORED_EVENTS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TEMPLATES = sorted(DEPLOY.glob("*.yaml"))


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !GetAtt, ...) as plain values."""


def _tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _tag)


def _load(name: str) -> dict[str, Any]:
    return yaml.load((DEPLOY / name).read_text(), Loader=_Loader)  # safe loader subclass


def test_templates_exist() -> None:
    assert [p.name for p in TEMPLATES] == ["monitor-forwarder.yaml", "monitor.yaml"]


def test_cfn_lint() -> None:
    exe = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run(
        [str(exe), *map(str, TEMPLATES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_scan_iac_finds_nothing_exposed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kmsguard", "scan", "iac", "--fail-on", "info", str(DEPLOY)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AlertsKey  private" in done.stdout


def test_template_matches_the_code() -> None:
    resources = _load("monitor.yaml")["Resources"]
    function = resources["MonitorFunction"]["Properties"]
    module, _, attr = function["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), attr))
    source = (Path(importlib.import_module(module).__file__ or "")).read_text()
    for name in function["Environment"]["Variables"]:
        assert f'"{name}"' in source, name
    for name in ("LocalKmsChangesRule", "CentralKmsChangesRule"):
        pattern = resources[name]["Properties"]["EventPattern"]
        assert set(pattern["detail"]["eventName"]) == MONITORED_EVENTS
    forwarded = _load("monitor-forwarder.yaml")["Resources"]["ForwardKmsChanges"]
    assert set(forwarded["Properties"]["EventPattern"]["detail"]["eventName"]) == MONITORED_EVENTS
    statements = resources["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    granted = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    state_code = (DEPLOY.parent / "src/kmsguard/monitor/state_dynamodb.py").read_text()
    called = set(re.findall(r"self\._client\.(\w+)\(", state_code))
    needed = {
        "get_item": {"dynamodb:GetItem"},
        "transact_write_items": {"dynamodb:PutItem", "dynamodb:ConditionCheckItem"},
        "update_item": {"dynamodb:UpdateItem"},
    }
    assert called == set(needed)
    for call in called:
        assert needed[call] <= granted, call
    assert {"sns:Publish", "kms:GetKeyPolicy", "sqs:SendMessage"} <= granted
    assert not any(a.endswith("*") for a in granted)  # least privilege: no wildcard actions
