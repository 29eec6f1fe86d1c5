"""Resume a job by id from another process: poll it to the end and print its video URL.

    AIMLAPI_KEY=any python examples/resume_job.py http://127.0.0.1:8765/aimlapi JOB_ID
"""

import asyncio
import sys

from wan_engine import Engine, FixedInterval


async def main(base_url: str, job_id: str) -> None:
    async with Engine(base_urls={"aimlapi": base_url}) as engine:
        result = await engine.job("alibaba/wan-2-7-r2v", job_id).wait(strategy=FixedInterval(0.5))
        print("video", result.video_url)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
