"""A resumer process for the SIGSTOP test: resume every job of a journal against the hostile API.

    python stale_worker.py JOURNAL API_BASE_URL LEASE_S

Prints the resume report as JSON on stdout. The key comes from AIMLAPI_KEY.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from wan_engine.journal.durable import DurableEngine


async def main(journal: str, api: str, lease_s: float) -> None:
    async with DurableEngine(base_urls={"aimlapi": api}, journal=journal, lease_s=lease_s, strategy="fixed") as engine:
        report = await engine.resume(lease_s=lease_s, env=dict(os.environ))
    print(json.dumps(report.as_dict(), default=str), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
