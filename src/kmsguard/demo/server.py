"""A local AWS stand-in for the demo: a moto server process on 127.0.0.1 (a free port),
from the `demo` extra (`pip install 'kmsguard[demo]'`). Nothing else is contacted."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from kmsguard.errors import KmsguardError

#: the stand-in's default account: the caller of the demo's scans
OWN_ACCOUNT = "123456789012"

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "kmsguard-demo",
    "AWS_SECRET_ACCESS_KEY": "kmsguard-demo",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


class StandInError(KmsguardError):
    """The local AWS stand-in could not be started."""


def available() -> bool:
    """Whether the `demo` extra (moto with its server) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("moto", "flask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server(timeout: float = 30.0) -> Iterator[str]:
    """Start the server, yield its URL; stop it on exit (also on Ctrl-C or an error)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MOTO_ACCOUNT_ID"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # Ctrl-C reaches us, and we stop it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise StandInError(f"the local AWS stand-in did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def pointed_at(url: str) -> Iterator[None]:
    """boto3 in this process talks to `url` only, with throwaway credentials; the previous
    environment comes back afterwards."""
    names = [*AWS_ENV, "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"]
    saved = {k: os.environ.get(k) for k in names}
    try:
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(k, None)
        os.environ.update(AWS_ENV)
        os.environ["AWS_ENDPOINT_URL"] = url
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
