"""`wan-engine contract check`: every interaction of a cassette against its spec, breaches located."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wan_engine.cassettes.contract import Breach, assert_cassette_keeps_contract, check_document
from wan_engine.cassettes.serializer import CassetteDocument, read_cassette, write_cassette
from wan_engine.cli.harness import harness
from wan_engine.spec.registry import SpecRegistry

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "cassettes" / "alibaba" / "wan-2-7-r2v"
SUCCESS = FOLDER / "success-reference-videos.yaml"
FAILS = FOLDER / "job-fails.yaml"
REJECTED = FOLDER / "rejected-invalid-params.yaml"


def body(document: CassetteDocument, index: int) -> Any:
    return json.loads(document.interactions[index]["response"]["body"]["string"])


def set_body(document: CassetteDocument, index: int, value: Any) -> None:
    document.interactions[index]["response"]["body"]["string"] = json.dumps(value)


def last_status_index(document: CassetteDocument) -> int:
    return max(i for i, x in enumerate(document.interactions) if "generation_id=" in x["request"]["uri"])


def breaches(document: CassetteDocument, registry: SpecRegistry) -> list[Breach]:
    return check_document(document, registry).breaches


def located(found: list[Breach], index: int | None, path: str) -> bool:
    return any(b.interaction == index and b.path == path for b in found)


def test_the_committed_cassettes_keep_the_contract_on_the_command_line() -> None:
    result = CliRunner().invoke(harness, ["contract", "check", str(ROOT / "cassettes")])
    assert result.exit_code == 0, result.output
    committed = len(list((ROOT / "cassettes").rglob("*.yaml")))
    assert f"{committed} cassette(s)" in result.output and ": ok" in result.output


def test_moving_the_video_url_fails_the_check_naming_the_path(tmp_path: Path) -> None:
    document = read_cassette(SUCCESS)
    index = last_status_index(document)
    final = body(document, index)
    final["video"]["href"] = final["video"].pop("url")
    set_body(document, index, final)
    target = tmp_path / "moved.yaml"
    write_cassette(document, target)
    result = CliRunner().invoke(harness, ["contract", "check", str(target)])
    assert result.exit_code == 1
    assert f"{target}: interactions[{index}].response $.video.url:" in result.output
    as_json = CliRunner().invoke(harness, ["contract", "check", "--json", str(target)])
    rows = [json.loads(line) for line in as_json.output.splitlines()]
    expected = {"cassette": str(target), "interaction": index, "part": "response", "path": "$.video.url"}
    assert any(expected.items() <= row.items() for row in rows[:-1])
    assert rows[-1]["breaches"] >= 1


def test_no_cassettes_is_an_error_not_a_pass(tmp_path: Path) -> None:
    result = CliRunner().invoke(harness, ["contract", "check", str(tmp_path)])
    assert result.exit_code != 0 and "no cassettes" in result.output


def test_a_status_that_goes_backwards_is_a_breach(registry: SpecRegistry) -> None:
    document = read_cassette(SUCCESS)
    index = last_status_index(document)
    backwards = body(document, index)
    backwards["status"] = "queued"
    set_body(document, index, backwards)
    found = breaches(document, registry)
    assert located(found, index, "$.status")
    assert any("cannot follow 'generating'" in b.message for b in found)


def test_a_failed_job_without_an_error_body_is_a_breach(registry: SpecRegistry) -> None:
    document = read_cassette(FAILS)
    index = last_status_index(document)
    failed = body(document, index)
    assert failed["status"] == "error"
    failed["error"] = None
    set_body(document, index, failed)
    assert located(breaches(document, registry), index, "$.error.message")


def test_a_400_for_a_request_the_schema_allows_is_a_breach(registry: SpecRegistry) -> None:
    document = read_cassette(REJECTED)
    assert breaches(document, registry) == []  # the schema forbids this request too: the rejection is expected
    document.interactions[0]["request"]["body"] = {"model": "alibaba/wan-2-7-r2v", "prompt": "valid"}
    found = breaches(document, registry)
    assert any(b.interaction == 0 and b.path == "$.message" and "schema allows" in b.message for b in found)


def test_an_accepted_request_the_schema_forbids_is_a_breach(registry: SpecRegistry) -> None:
    document = read_cassette(SUCCESS)
    document.interactions[0]["request"]["body"]["aspect_ratio"] = "21:9"
    document.interactions[0]["request"]["body"]["model"] = "someone/else"
    found = breaches(document, registry)
    assert located(found, 0, "$.aspect_ratio") and located(found, 0, "$.model")


def test_an_http_error_body_must_match_the_error_schema(registry: SpecRegistry) -> None:
    document = read_cassette(REJECTED)
    error = body(document, 0)
    error["statusCode"] = "400"
    del error["message"]
    set_body(document, 0, error)
    found = breaches(document, registry)
    assert located(found, 0, "$.statusCode") and located(found, 0, "$.message")


def test_an_unreadable_retry_after_is_a_breach(registry: SpecRegistry) -> None:
    document = read_cassette(FOLDER / "rate-limited-retry-after.yaml")
    index = next(i for i, x in enumerate(document.interactions) if x["response"]["status"]["code"] == 429)
    document.interactions[index]["response"]["headers"]["Retry-After"] = ["soon"]
    assert located(breaches(document, registry), index, "headers.Retry-After")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda p: p.pop("source"), "$.wan_engine.source"),
        (lambda p: p.update(source="real"), "$.wan_engine.source"),  # a loopback recording is never "real"
        (lambda p: p.update(model="nobody/nothing"), "$.wan_engine.model"),
        (lambda p: p.update(provider="other"), "$.wan_engine.provider"),
    ],
    ids=["no-source", "sandbox-labelled-real", "unknown-model", "wrong-provider"],
)
def test_the_provenance_block_must_be_honest_and_complete(change: Any, path: str, registry: SpecRegistry) -> None:
    document = read_cassette(SUCCESS)
    change(document.raw["wan_engine"])
    assert located(breaches(document, registry), None, path)


def test_a_cassette_without_provenance_is_a_breach(registry: SpecRegistry) -> None:
    document = read_cassette(SUCCESS)
    del document.raw["wan_engine"]
    assert located(breaches(document, registry), None, "$.wan_engine")


def test_an_unfiltered_key_in_the_auth_header_is_a_breach(registry: SpecRegistry) -> None:
    document = read_cassette(SUCCESS)
    document.interactions[3]["request"]["headers"]["Authorization"] = ["Bearer sk-live-123"]
    assert located(breaches(document, registry), 3, "headers.Authorization")


def test_a_request_to_no_known_endpoint_is_a_breach(registry: SpecRegistry) -> None:
    document = read_cassette(SUCCESS)
    extra = copy.deepcopy(document.interactions[1])
    extra["request"]["uri"] = extra["request"]["uri"].replace("/v2/video/generations", "/v1/videos")
    document.interactions.insert(2, extra)
    found = breaches(document, registry)
    assert any(b.interaction == 2 and b.path == "uri" and "matches no endpoint" in b.message for b in found)


def test_the_outcome_must_agree_with_the_last_status(registry: SpecRegistry) -> None:
    document = read_cassette(SUCCESS)
    index = last_status_index(document)
    unfinished = body(document, index)
    unfinished.update(status="generating", video=None, meta=None)
    set_body(document, index, unfinished)
    found = breaches(document, registry)
    assert any(
        b.interaction == index and b.path == "$.status" and "recorded outcome is succeeded" in b.message for b in found
    )


def test_the_assertion_helper_lists_every_breach(tmp_path: Path, registry: SpecRegistry) -> None:
    assert_cassette_keeps_contract(SUCCESS, registry)
    document = read_cassette(SUCCESS)
    document.interactions[0]["request"]["body"]["duration"] = 15
    write_cassette(document, tmp_path / "bad.yaml")
    with pytest.raises(AssertionError, match=r"interactions\[0\]\.request \$\.duration"):
        assert_cassette_keeps_contract(tmp_path / "bad.yaml", registry)
