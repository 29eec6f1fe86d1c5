"""A replay answers only the request the cassette recorded: another model is refused, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from wan_engine.cassettes.replay import replay_engine
from wan_engine.cassettes.transport import request_difference
from wan_engine.errors import CassetteMismatchError
from wan_engine.spec.registry import SpecRegistry

ROOT = Path(__file__).resolve().parents[2]
R2V = ROOT / "cassettes" / "alibaba" / "wan-2-7-r2v" / "success-reference-videos.yaml"


async def test_a_text_to_video_request_does_not_replay_from_a_reference_to_video_cassette(
    registry: SpecRegistry,
) -> None:
    async with replay_engine(R2V, registry) as engine:
        with pytest.raises(CassetteMismatchError) as caught:
            await engine.run("alibaba/wan-2-7-t2v", prompt="a cat")
    message = str(caught.value)
    assert "$.model" in message and "'alibaba/wan-2-7-t2v'" in message and "'alibaba/wan-2-7-r2v'" in message
    assert str(R2V) in message


async def test_the_recorded_request_with_another_prompt_still_replays(registry: SpecRegistry) -> None:
    async with replay_engine(R2V, registry) as engine:
        result = await engine.run(
            "alibaba/wan-2-7-r2v",
            prompt="another prompt",
            video_urls=["https://example.com/a.mp4", "https://example.com/b.mp4"],
            duration=5,
        )
    assert result.video_url


def test_only_the_fields_that_choose_the_model_must_match() -> None:
    recorded = {"model": "m", "prompt": "p", "video_urls": ["u"]}
    assert request_difference(recorded, {"model": "m", "prompt": "q"}) is None
    assert request_difference(recorded, {"model": "n", "prompt": "p"}) == (
        "$.model",
        "the app sent 'n', the cassette recorded 'm'",
    )


def test_more_fields_can_be_made_to_matter() -> None:
    recorded = {"model": "m", "prompt": "p", "video_urls": ["u"], "duration": 5}
    sent = {"model": "m", "prompt": "q", "duration": 10}
    assert request_difference(recorded, sent) is None
    assert request_difference(recorded, sent, ("model", "video_urls")) == (
        "$.video_urls",
        "the app sent None, the cassette recorded ['u']",
    )
    assert request_difference(recorded, {**sent, "video_urls": ["u"]}, ("model", "video_urls", "duration")) == (
        "$.duration",
        "the app sent 10, the cassette recorded 5",
    )
