"""Property: random corruptions of recorded responses are caught, each named by its JSON path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from wan_engine.cassettes.contract import check_document
from wan_engine.cassettes.serializer import CassetteDocument, read_cassette
from wan_engine.spec.registry import SpecRegistry

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = SpecRegistry.discover()
PROVIDER = REGISTRY.model("alibaba/wan-2-7-r2v").provider
CASSETTES = {p.stem: read_cassette(p) for p in sorted((ROOT / "cassettes" / "alibaba" / "wan-2-7-r2v").glob("*.yaml"))}
Corruption = Callable[[dict[str, Any], Any], str]
"""Changes a response document in place (with a drawn value) and returns the JSON path to be named."""


def delete_status(doc: dict[str, Any], _value: Any) -> str:
    del doc["status"]
    return "$.status"


def unmapped_status(doc: dict[str, Any], value: Any) -> str:
    doc["status"] = value if value not in PROVIDER.statuses else value + "-x"
    return "$.status"


def non_string_status(doc: dict[str, Any], value: Any) -> str:
    doc["status"] = len(str(value))
    return "$.status"


def change_id(doc: dict[str, Any], value: Any) -> str:
    doc["id"] = f"{doc['id']}-{value}"
    return "$.id"


def delete_id(doc: dict[str, Any], _value: Any) -> str:
    del doc["id"]
    return "$.id"


def move_video_url(doc: dict[str, Any], value: Any) -> str:
    url = doc["video"].pop("url")
    if len(str(value)) % 2:
        doc["video"]["href"] = url
    else:
        doc["video_url"] = url
    return "$.video.url"


def drop_error_message(doc: dict[str, Any], value: Any) -> str:
    doc["error"] = None if len(str(value)) % 2 else {"name": doc["error"].get("name", "x")}
    return "$.error.message"


def drop_http_error_message(doc: dict[str, Any], _value: Any) -> str:
    del doc["message"]
    return "$.message"


def stringify_status_code(doc: dict[str, Any], _value: Any) -> str:
    doc["statusCode"] = str(doc["statusCode"])
    return "$.statusCode"


def corruptions_for(uri: str, code: int, doc: Any) -> list[Corruption]:
    if not isinstance(doc, dict):
        return []
    if code >= 400:
        return [drop_http_error_message, stringify_status_code]
    found: list[Corruption] = [delete_status, unmapped_status, non_string_status, change_id, delete_id]
    if doc.get("status") == "completed":
        found.append(move_video_url)
    if doc.get("status") == "error":
        found.append(drop_error_message)
    return found


TARGETS = [
    (name, index, corruption)
    for name, document in CASSETTES.items()
    for index, interaction in enumerate(document.interactions)
    if "/_media/" not in interaction["request"]["uri"]
    for corruption in corruptions_for(
        interaction["request"]["uri"],
        interaction["response"]["status"]["code"],
        json.loads(interaction["response"]["body"]["string"]),
    )
]


def test_there_is_something_to_corrupt_of_every_kind() -> None:
    kinds = {corruption.__name__ for _name, _index, corruption in TARGETS}
    assert len(kinds) == 9


@given(target=st.sampled_from(TARGETS), value=st.text(min_size=1, max_size=12))
def test_a_corrupted_response_is_caught_at_its_path(target: tuple[str, int, Corruption], value: str) -> None:
    name, index, corruption = target
    document = CassetteDocument(f"{name}.yaml", copy.deepcopy(CASSETTES[name].raw))
    response = document.interactions[index]["response"]
    doc = json.loads(response["body"]["string"])
    path = corruption(doc, value)
    response["body"]["string"] = json.dumps(doc)
    breaches = check_document(document, REGISTRY).breaches
    assert any(b.interaction == index and b.part == "response" and b.path == path for b in breaches), (
        f"{corruption.__name__} at interactions[{index}] of {name}: expected a breach at {path}, got "
        + "; ".join(map(str, breaches))
    )


def test_the_uncorrupted_cassettes_have_no_breach() -> None:
    for document in CASSETTES.values():
        assert check_document(document, REGISTRY).breaches == []
