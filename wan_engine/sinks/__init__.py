"""Destinations for result videos; built-ins registered as ``wan_engine.sinks`` entry points like any plugin."""

from wan_engine.errors import SinkError
from wan_engine.redaction import scrub_url
from wan_engine.sinks.protocols import (
    DataSink,
    DeliverySummary,
    NotifySink,
    Provenance,
    Sink,
    SinkContext,
    SinkWriter,
    sink_from_name,
)

__all__ = [
    "DataSink",
    "DeliverySummary",
    "NotifySink",
    "Provenance",
    "Sink",
    "SinkContext",
    "SinkError",
    "SinkWriter",
    "scrub_url",
    "sink_from_name",
]
