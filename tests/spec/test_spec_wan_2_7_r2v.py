"""The alibaba/wan-2-7-r2v spec says what its documentation says."""

from __future__ import annotations

from typing import Any

import pytest

from wan_engine.errors import ParameterValidationError
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.params import build_body, prepare

IMG = [f"https://example.com/{i}.png" for i in range(6)]
VID = [f"https://example.com/{i}.mp4" for i in range(6)]


def rejected(spec: ModelSpec, params: dict[str, Any]) -> ParameterValidationError:
    with pytest.raises(ParameterValidationError) as caught:
        prepare(spec, params)
    return caught.value


def test_three_breaches_are_reported_together(wan_spec: ModelSpec) -> None:
    error = rejected(wan_spec, {"prompt": "x", "image_urls": IMG, "negative_prompt": "n" * 501, "aspect_ratio": "21:9"})
    paths = {v.path for v in error.violations}
    assert {"$.image_urls", "$.negative_prompt", "$.aspect_ratio"} <= paths
    text = str(error)
    assert "at most 5 items" in text and "at most 500 characters" in text and '"16:9"' in text


def test_defaults_are_applied(wan_spec: ModelSpec) -> None:
    assert prepare(wan_spec, {"prompt": "a fox"}) == {
        "prompt": "a fox", "aspect_ratio": "16:9", "resolution": "1080p", "duration": 10,
        "enhance_prompt": True, "watermark": False,
    }


def test_the_body_carries_the_model_and_every_parameter(wan_spec: ModelSpec) -> None:
    body = build_body(wan_spec, prepare(wan_spec, {"prompt": "a fox", "seed": 7}))
    assert body["model"] == "alibaba/wan-2-7-r2v"
    assert body["seed"] == 7 and body["duration"] == 10


def test_fifteen_seconds_with_a_reference_video_is_rejected(wan_spec: ModelSpec) -> None:
    error = rejected(wan_spec, {"prompt": "x", "video_urls": VID[:1], "duration": 15})
    assert [v.path for v in error.violations] == ["$.duration"]
    assert "reference video" in error.violations[0].message  # the rule's description is quoted
    assert prepare(wan_spec, {"prompt": "x", "duration": 15})["duration"] == 15
    assert prepare(wan_spec, {"prompt": "x", "video_urls": VID[:1], "duration": 10})["duration"] == 10


@pytest.mark.parametrize(("images", "videos"), [(3, 3), (1, 5), (5, 1), (4, 2), (2, 4)])
def test_more_than_five_references_in_all_are_rejected(wan_spec: ModelSpec, images: int, videos: int) -> None:
    error = rejected(wan_spec, {"prompt": "x", "image_urls": IMG[:images], "video_urls": VID[:videos]})
    assert "$.video_urls" in {v.path for v in error.violations}


@pytest.mark.parametrize(("images", "videos"), [(0, 5), (5, 0), (2, 3), (3, 2), (4, 1), (1, 4)])
def test_five_references_in_all_are_accepted(wan_spec: ModelSpec, images: int, videos: int) -> None:
    params: dict[str, Any] = {"prompt": "x", "duration": 5}
    if images:
        params["image_urls"] = IMG[:images]
    if videos:
        params["video_urls"] = VID[:videos]
    filled = prepare(wan_spec, params)
    assert len(filled.get("image_urls", [])) + len(filled.get("video_urls", [])) == images + videos == 5
    assert build_body(wan_spec, filled)["model"] == "alibaba/wan-2-7-r2v"


def test_duration_as_a_string_is_accepted_and_sent_as_a_number(wan_spec: ModelSpec) -> None:
    """The docs' own samples send "duration": "5"; the provider spec says numeric_strings: normalise."""
    assert prepare(wan_spec, {"prompt": "x", "duration": "5"})["duration"] == 5


def test_a_non_numeric_duration_string_is_still_rejected_saying_integer(wan_spec: ModelSpec) -> None:
    error = rejected(wan_spec, {"prompt": "x", "duration": "five"})
    messages = [v.message for v in error.violations if v.path == "$.duration"]
    assert messages and any("integer" in m for m in messages), error.violations


def test_unknown_parameters_and_missing_prompt(wan_spec: ModelSpec) -> None:
    error = rejected(wan_spec, {"promt": "typo"})
    assert {v.path for v in error.violations} == {"$.prompt", "$.promt"}


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "not a url", "example.com/a.png"])
def test_reference_urls_must_be_http(wan_spec: ModelSpec, url: str) -> None:
    error = rejected(wan_spec, {"prompt": "x", "image_urls": [IMG[0], url]})
    assert "$.image_urls[1]" in {v.path for v in error.violations}


def test_the_documented_limits_are_in_the_schema(wan_spec: ModelSpec) -> None:
    props = wan_spec.parameters["properties"]
    assert props["negative_prompt"]["maxLength"] == 500
    assert props["image_urls"]["maxItems"] == 5 and props["video_urls"]["maxItems"] == 5
    assert props["duration"]["enum"] == [5, 10, 15]
    assert wan_spec.parameters["required"] == ["prompt"]
    assert wan_spec.polling.recommended_interval_s == 15
