"""Submit a wan-2-7-r2v job to a running sandbox, print its status changes, and its video URL.

    wan-engine sandbox --port 8765 &            # in another terminal
    AIMLAPI_KEY=any python examples/sandbox_job.py http://127.0.0.1:8765/aimlapi
    AIMLAPI_KEY=any python examples/resume_job.py http://127.0.0.1:8765/aimlapi JOB_ID
"""

import asyncio
import sys

from wan_engine import Completed, Engine, FixedInterval, StatusChanged, Submitted


async def main(base_url: str, stop_after_submit: bool) -> None:
    async with Engine(base_urls={"aimlapi": base_url}) as engine:
        job = await engine.submit(
            "alibaba/wan-2-7-r2v",
            prompt="Video 1 dances on a rooftop at sunset",
            video_urls=["https://example.com/reference.mp4"],
            duration=5,
        )
        print("submitted", job.id, flush=True)
        if stop_after_submit:  # leave it to resume_job.py, as a crashed process would
            return
        async for event in job.events(strategy=FixedInterval(0.5)):
            if isinstance(event, Submitted):
                print("job", event.job_id)
            elif isinstance(event, StatusChanged):
                print("status", event.state.value, f"(provider: {event.provider_status})")
            elif isinstance(event, Completed):
                print("video", event.result.video_url)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], "--submit-only" in sys.argv))
