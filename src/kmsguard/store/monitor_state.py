"""The monitor's tables in the history store: handled events (with their alerts) and the last
applied state of every key. `kmsguard.monitor.state_sql` reads and writes them; atomicity
comes from the database: the event id is a primary key, and a key row is updated only where
its version is the one read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .database import Base

PENDING = "pending"
DELIVERED = "delivered"


class MonitorEventRow(Base):
    __tablename__ = "monitor_events"

    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    key_arn: Mapped[str | None] = mapped_column(String(2048), nullable=True, index=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    alerts: Mapped[str] = mapped_column(Text)  # JSON list of the alerts' to_json()


class MonitorKeyRow(Base):
    __tablename__ = "monitor_keys"

    key_arn: Mapped[str] = mapped_column(String(2048), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(32))
    last_event_time: Mapped[str | None] = mapped_column(String(40), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(Text)  # JSON of the monitor's KeyState
