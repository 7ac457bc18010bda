"""The distribution as users install it: sdist and wheel built by `python -m build`, the wheel
installed into a clean venv with the locked runtime set only, the GitHub Action's script run
the way the runner runs it, the workflow files checked against their schemas, and the
container image built where a container engine is available."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

from kmsguard import __version__

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration

PUBLIC_KEY_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  QuickFixKey:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Sid: QuickFix
            Effect: Allow
            Principal: "*"
            Action: "kms:*"
            Resource: "*"
"""


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist first, then the wheel built from the sdist (so the sdist must be complete)."""
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "kmsguard"
    files = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                 cwd=REPO).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    proc = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return {
        "sdist": next(out.glob("kmsguard-*.tar.gz")),
        "wheel": next(out.glob("kmsguard-*-py3-none-any.whl")),
    }


def _clean_venv(where: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(where)
    return where / "bin"


def test_sdist_carries_tests_docs_policy_and_hooks(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "README.md", "CHANGELOG.md", "SECURITY.md", "CONTRIBUTING.md",
                   ".pre-commit-hooks.yaml", "action.yml", "scripts/action.sh", "Dockerfile",
                   "iam/kmsguard-scanner-policy.json", "docs/architecture.md",
                   "requirements/runtime.txt", "requirements/dev.txt", "tests/conftest.py",
                   "Makefile", "src/kmsguard/cli/__init__.py"):
        assert needed in names, needed
    assert any(n.startswith("tests/corpus/") for n in names)
    assert not any("__pycache__" in n for n in names)


def test_wheel_carries_demo_data_and_metadata(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = set(whl.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(meta_name).decode()
    assert f"Version: {__version__}" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    assert "Requires-Dist: duckdb" not in metadata.split("Provides-Extra: duckdb")[0]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "kmsguard/py.typed" in names
    assert "kmsguard/rules.json" in names
    demo = [n for n in names if n.startswith("kmsguard/demo/")]
    assert any(n.startswith("kmsguard/demo/policies/") for n in demo)
    assert any(n.startswith("kmsguard/demo/iac/") for n in demo)
    # the dashboard's vendored chart library, its license and hash; the schema revisions
    for asset in ("chart.umd.min.js", "chart.js-LICENSE.md", "chart.js.json"):
        assert f"kmsguard/report/assets/{asset}" in names, asset
    assert "kmsguard/store/migrations/env.py" in names
    assert "kmsguard/store/migrations/script.py.mako" in names
    assert "kmsguard/store/migrations/versions/0001_policy_versions.py" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_wheel_in_a_clean_venv_runs_the_demo(dist: dict[str, Path], tmp_path: Path) -> None:
    """The runtime lock alone (no test tools, no extras) is enough for every bundled command."""
    bin_dir = _clean_venv(tmp_path / "venv")
    pip = [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    proc = _run([*pip, "--require-hashes", "-r", str(REPO / "requirements/runtime.txt")])
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = _run([*pip, str(dist["wheel"])])
    assert proc.returncode == 0, proc.stderr[-2000:]
    version = _run([str(bin_dir / "kmsguard"), "--version"])
    assert version.stdout.strip() == f"kmsguard, version {__version__}"
    demo = _run([str(bin_dir / "kmsguard"), "demo"], cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "[critical] public" in demo.stdout
    assert "pip install 'kmsguard[demo]'" in demo.stderr  # how to get the full demo
    for tool in ("pytest", "mypy", "moto", "duckdb"):
        assert _run([str(bin_dir / "python"), "-c", f"import {tool}"]).returncode != 0, tool


def test_github_action_script_as_the_runner_runs_it(dist: dict[str, Path], tmp_path: Path) -> None:
    """The action's checkout (here: the unpacked sdist), a workspace with an exposed key, and
    the variables the runner sets for a composite step."""
    with tarfile.open(dist["sdist"]) as tar:
        tar.extractall(tmp_path / "action", filter="data")
    action_dir = next((tmp_path / "action").iterdir())
    workspace = tmp_path / "workspace"
    (workspace / "infra").mkdir(parents=True)
    (workspace / "infra" / "key.yaml").write_text(PUBLIC_KEY_TEMPLATE)
    (workspace / "notes.txt").write_text("not a template")
    outputs = tmp_path / "github_output"
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    step = action["runs"]["steps"][0]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GITHUB_ACTION_PATH": str(action_dir),
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(outputs),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        # inputs as action.yml maps them: defaults, with paths and account set by the workflow
        **{k: str(v) for k, v in step["env"].items()},
    }
    defaults = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    for var, expr in step["env"].items():
        name = expr.removeprefix("${{ inputs.").removesuffix(" }}")
        env[var] = {"paths": "infra", "account": "111122223333"}.get(name, defaults[name])
    (tmp_path / "runner-temp").mkdir()
    proc = _run(["bash", "-c", step["run"]], env=env, cwd=workspace)
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "QuickFixKey" in proc.stdout
    sarif = json.loads((workspace / "kmsguard.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert [r["level"] for r in results] == ["error"]
    assert "infra/key.yaml" in json.dumps(results[0]["locations"])
    assert outputs.read_text().splitlines() == ["sarif=kmsguard.sarif", "exit-code=3"]


def test_workflow_and_action_files_match_their_schemas(tmp_path: Path) -> None:
    check = str(BIN / "check-jsonschema")
    workflows = sorted(str(p) for p in (REPO / ".github" / "workflows").glob("*.yml"))
    assert workflows
    ok = _run([check, "--builtin-schema", "vendor.github-workflows", *workflows])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ok = _run([check, "--builtin-schema", "vendor.github-actions", str(REPO / "action.yml")])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(Path(workflows[0]).read_text().replace("runs-on:", "runs_on:", 1))
    bad = _run([check, "--builtin-schema", "vendor.github-workflows", str(broken)])
    assert bad.returncode != 0


def _container_engine() -> str | None:
    for engine in ("podman", "docker"):
        path = shutil.which(engine)
        if path and _run([path, "info"]).returncode == 0:
            return path
    return None


def test_container_image_builds_non_root_with_kmsguard_entry_point() -> None:
    """Built where a container engine runs. The base image is the Dockerfile's default unless
    KMSGUARD_TEST_BASE_IMAGE names another (e.g. a local Debian image with python3, where no
    container registry is reachable); the CA bundle of PIP_CERT is passed as the `ca` secret."""
    engine = _container_engine()
    if engine is None:
        pytest.skip("no container engine (podman or docker) runs on this machine")
    tag = "localhost/kmsguard-test:latest"
    cmd = [engine, "build", "--tag", tag]
    if Path(engine).name == "podman":
        cmd += ["--isolation", "chroot"]  # needs no cgroups: works in unprivileged sandboxes
    if base := os.environ.get("KMSGUARD_TEST_BASE_IMAGE"):
        cmd += ["--build-arg", f"PYTHON_IMAGE={base}"]
    if (ca := os.environ.get("PIP_CERT")) and Path(ca).is_file():
        cmd += ["--secret", f"id=ca,src={ca}"]
    built = _run([*cmd, str(REPO)])
    if built.returncode != 0 and "pinging container registry" in built.stderr:
        pytest.skip(f"the base image cannot be pulled here: {built.stderr.strip()[-200:]}")
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    config = json.loads(_run([engine, "image", "inspect", tag]).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["kmsguard"]
    ran = _run([engine, "run", "--rm", tag, "--version"])
    if "OCI permission denied" in ran.stderr:  # a sandbox that may build but not run
        return
    assert ran.stdout.strip() == f"kmsguard, version {__version__}", ran.stderr


@pytest.mark.parametrize(("target", "lock", "not_lock"), [
    ("demo", "requirements/demo.txt", "requirements/dev.txt"),
    ("test", "requirements/dev.txt", "requirements/runtime.txt"),
])
def test_make_targets_install_the_lock(target: str, lock: str, not_lock: str) -> None:
    """`make demo` gets the runtime + demo extra set, `make test` the test set; both with
    hashes."""
    plan = _run(["make", "-n", "-B", target], cwd=REPO)
    assert plan.returncode == 0, plan.stderr
    installs = [line for line in plan.stdout.splitlines() if " install " in line]
    assert any("--require-hashes" in line and f"-r {lock}" in line for line in installs)
    assert not any(not_lock in line for line in installs)
    assert all("--require-hashes" in line or "--no-deps" in line for line in installs)
