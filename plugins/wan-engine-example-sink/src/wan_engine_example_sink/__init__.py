"""An example third-party sink: appends one JSON line per delivered video to a manifest file.

It shows the whole plugin contract in a few lines: a class taking keyword
options, registered under ``wan_engine.sinks`` in this package's
pyproject.toml, implementing ``NotifySink`` (``name`` and ``notify``). Being a
notify sink, it runs after the data sinks committed, so each line can list
where the video was stored.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import attrs

from wan_engine import DeliverySummary, SinkContext

__all__ = ["ManifestSink"]


@attrs.frozen
class ManifestSink:
    path: Path = attrs.field(converter=Path)
    name: str = "manifest"

    async def notify(self, summary: DeliverySummary, ctx: SinkContext) -> str:
        line = json.dumps(summary.as_dict(), sort_keys=True, default=str) + "\n"
        await asyncio.to_thread(self._append, line)
        return str(self.path)

    def _append(self, line: str) -> None:
        # One write() call per line in append mode: concurrent deliveries do not interleave lines.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
