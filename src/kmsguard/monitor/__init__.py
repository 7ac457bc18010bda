"""`kmsguard monitor`: alert within seconds when a KMS key becomes exposed, is fixed, gains
an outside grant or loses its owner tag — from CloudTrail events, through one handler behind
three entry points (Lambda, an SQS consumer, replay of saved events)."""

from .alerts import Actor, Alert, AlertType
from .events import MONITORED_EVENTS, EventError, Ignored, KmsEvent, parse_event
from .handler import KeyReader, Monitor, MonitorConfig, Outcome, RetryLaterError, Status
from .sinks import (
    AlertSink,
    CollectingSink,
    FanoutSink,
    SinkError,
    SnsSink,
    StdoutSink,
    WebhookSink,
)
from .state import Claim, KeyState, MonitorState, StateError

__all__ = [
    "MONITORED_EVENTS",
    "Actor",
    "Alert",
    "AlertSink",
    "AlertType",
    "Claim",
    "CollectingSink",
    "EventError",
    "FanoutSink",
    "Ignored",
    "KeyReader",
    "KeyState",
    "KmsEvent",
    "Monitor",
    "MonitorConfig",
    "MonitorState",
    "Outcome",
    "RetryLaterError",
    "SinkError",
    "SnsSink",
    "StateError",
    "Status",
    "StdoutSink",
    "WebhookSink",
    "parse_event",
]
