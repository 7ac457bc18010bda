"""Where alerts go: standard output (JSON lines), an SNS topic, a Slack-compatible incoming
webhook; several at once through `FanoutSink`. A sink that cannot deliver raises
`SinkError`, and the event's alerts stay pending for a redelivery."""

from __future__ import annotations

import json
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TextIO
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from kmsguard.errors import InputError, KmsguardError

from .alerts import Alert

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

log = logging.getLogger("kmsguard.monitor")


class SinkError(KmsguardError):
    """An alert could not be delivered."""


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None:
        """Deliver one alert or raise `SinkError`."""
        ...


class StdoutSink:
    """One JSON object per line (see docs/monitor.md for the fields)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, alert: Alert) -> None:
        stream = self._stream or sys.stdout
        try:
            stream.write(alert.to_json_line() + "\n")
            stream.flush()
        except OSError as exc:
            raise SinkError(f"cannot write the alert to standard output: {exc}") from exc


class CollectingSink:
    """Keeps alerts in memory (tests, benchmarks, the replay summary)."""

    def __init__(self, on_alert: Callable[[Alert], None] | None = None) -> None:
        self.alerts: list[Alert] = []
        self._on_alert = on_alert

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)
        if self._on_alert is not None:
            self._on_alert(alert)


class SnsSink:
    """Publishes each alert as JSON, with `type` and `severity` message attributes so that
    subscriptions can filter."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def send(self, alert: Alert) -> None:
        subject = alert.summary().encode("ascii", "replace").decode("ascii")
        subject = "".join(c if c.isprintable() else " " for c in subject)[:100]
        try:
            self._client.publish(
                TopicArn=self._topic_arn,
                Message=alert.to_json_line(),
                Subject=subject,
                MessageAttributes={
                    "type": {"DataType": "String", "StringValue": str(alert.type)},
                    "severity": {"DataType": "String", "StringValue": alert.severity},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise SinkError(f"cannot publish to `{self._topic_arn}`: {exc}") from exc


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError(
            f"`{url}` is not an http(s) URL", hint="give the webhook's full https:// URL"
        )
    return url


class WebhookSink:
    """HTTP POST of `{"text": <one line>, "alert": <the alert>}` to a Slack-compatible
    incoming webhook, with a timeout per attempt and retries (with backoff) on connection
    errors, 429 and 5xx answers."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        attempts: int = 4,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = check_webhook_url(url)
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._sleep = sleep
        self._shown = urlsplit(url)._replace(path="/…", query="").geturl()  # hide the secret path

    def send(self, alert: Alert) -> None:
        body = json.dumps({"text": alert.summary(), "alert": alert.to_json()}).encode("utf-8")
        last = ""
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(
                self._url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "kmsguard-monitor"},
            )
            try:
                with urllib.request.urlopen(
                    request, timeout=self._timeout
                ) as response:  # http(s) only
                    response.read(65536)
                    return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code != 429 and exc.code < 500:
                    break  # the webhook refuses this alert: retrying will not help
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            log.warning("webhook %s: attempt %d failed: %s", self._shown, attempt + 1, last)
        raise SinkError(f"cannot deliver the alert to the webhook {self._shown}: {last}")


class FanoutSink:
    """Every alert to every sink; the sinks that failed are named in one `SinkError` after
    all were tried."""

    def __init__(self, sinks: Sequence[AlertSink]) -> None:
        self.sinks = tuple(sinks)

    def send(self, alert: Alert) -> None:
        failures = []
        for sink in self.sinks:
            try:
                sink.send(alert)
            except SinkError as exc:
                failures.append(exc.message)
        if failures:
            raise SinkError("; ".join(failures))
