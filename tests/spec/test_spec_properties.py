"""Property tests of spec loading: a broken spec document fails with SpecError, by file and path.

Each real spec file the registry discovers (bundled, WAN_ENGINE_SPEC_PATH, entry points) is
mutated by hypothesis, written to a temporary file and loaded: the only acceptable
failure is a SpecError (or InvalidSpecsError holding them) that names the file and
located problems; any other exception is a bug.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import discovered_registry
from hypothesis import given, settings
from hypothesis import strategies as st

from wan_engine.errors import InvalidSpecsError, SpecError
from wan_engine.spec.files import load_file, meta_validator
from wan_engine.spec.registry import SpecRegistry


def _spec_files() -> list[Path]:
    files: dict[str, Path] = {}
    for registry in (discovered_registry(),):
        for item in [*registry.providers.values(), *(m.document for m in registry.models())]:
            files.setdefault(item.source_file, Path(item.source_file))
    return list(files.values())


SPEC_FILES = _spec_files()
Path_ = tuple[str | int, ...]


def json_path(steps: Path_) -> str:
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)


def walk(node: Any, steps: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield steps, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*steps, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*steps, index))


def get(document: Any, steps: Path_) -> Any:
    for step in steps:
        document = document[step]
    return document


def put(document: Any, steps: Path_, value: Any) -> None:
    get(document, steps[:-1])[steps[-1]] = value


def wrong_type(value: Any) -> list[Any]:
    samples: list[Any] = ["text", 5, 2.5, True, None, ["x"], {"k": 1}]
    return [s for s in samples if type(s) is not type(value)]


def write(tmp_dir: Path, original: Path, document: Any) -> Path:
    path = tmp_dir / original.name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def assert_spec_error(error: SpecError, path: Path) -> None:
    assert error.file == str(path)
    assert str(path) in str(error)
    assert error.problems
    for problem in error.problems:
        assert problem.path.startswith("$"), problem


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer + ".") or inner.startswith(outer + "[")


def is_under(problem_path: str, target: str) -> bool:
    """The problem is at ``target``, at one of its ancestors or inside it."""
    return _within(target, problem_path) or _within(problem_path, target)


def load_everything(path: Path, original: Path) -> SpecRegistry:
    """The mutated file in place of its original, with every other real spec file."""
    providers = {p.source_file for p in discovered_registry().providers.values()}
    if _document(original)["kind"] == "model":  # a model needs only the providers beside it
        others = [p for p in SPEC_FILES if str(p) in providers]
    else:
        others = [p for p in SPEC_FILES if p != original]
    return SpecRegistry.from_files([*others, path])


def check_rejected(document: Any, original: Path, target: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), original, document)
        with pytest.raises(SpecError) as caught:
            load_file(path)
        assert_spec_error(caught.value, path)
        if target is not None:
            assert any(is_under(p.path, target) for p in caught.value.problems), (target, caught.value.problems)
        with pytest.raises(InvalidSpecsError) as all_caught:
            load_everything(path, original)
        mine = [e for e in all_caught.value.errors if isinstance(e, SpecError) and e.file == str(path)]
        assert mine, all_caught.value.errors
        for error in all_caught.value.errors:
            assert isinstance(error, SpecError)


def check_loads_or_spec_error(document: Any, original: Path) -> None:
    """Never any exception but SpecError / InvalidSpecsError; meta-schema breaches always fail."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), original, document)
        must_fail = not meta_validator().is_valid(document)
        try:
            load_file(path)
        except SpecError as error:
            assert_spec_error(error, path)
        else:
            assert not must_fail
        try:
            load_everything(path, original)
        except InvalidSpecsError as error:
            assert all(isinstance(each, SpecError) for each in error.errors), error.errors
            for each in error.errors:
                assert_spec_error(each, Path(each.file))  # a model may fail for its broken provider
            assert not must_fail or any(each.file == str(path) for each in error.errors)
        else:
            assert not must_fail


def _required(document: dict[str, Any]) -> list[str]:
    meta = json.loads(json.dumps(meta_validator().schema))
    return list(meta["$defs"][document["kind"]]["required"])


spec_file = pytest.mark.parametrize("original", SPEC_FILES, ids=[p.name for p in SPEC_FILES])


def _document(original: Path) -> dict[str, Any]:
    return json.loads(original.read_text(encoding="utf-8"))


POINTER_KEYS = ("id_pointer", "status_pointer", "video_url", "error_message", "error_code", "message", "code")
ENUMS: dict[str, list[Path_]] = {
    "provider": [("kind",), ("auth", "scheme"), ("submit", "method"), ("status", "method"), ("unknown_status",)],
    "model": [("kind",), ("format_version",)],
}


def _has(document: Any, steps: Path_) -> bool:
    try:
        get(document, steps)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _pointers(document: dict[str, Any]) -> list[Path_]:
    return [
        steps for steps, value in walk(document)
        if isinstance(value, str) and value.startswith("/") and steps
        and steps[0] in ("id_pointer", "status_pointer", "result", "errors")
        and (steps[-1] in POINTER_KEYS or (len(steps) > 1 and steps[-2] in ("metadata", *POINTER_KEYS)))
    ]


@st.composite
def targeted_damage(draw: st.DrawFn, document: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A document broken in one way the format forbids, and the path the error must be at (or under)."""
    document = copy.deepcopy(document)
    kinds = ["delete-required", "wrong-type", "bad-enum"] + (["corrupt-pointer"] if _pointers(document) else [])
    kind = draw(st.sampled_from(kinds), label="damage")
    if kind == "delete-required":
        del document[draw(st.sampled_from(_required(document)), label="key")]
        return document, "$"
    if kind == "wrong-type":
        typed = [k for k, v in document.items() if isinstance(v, str | dict) and k != "$schema"]
        key = draw(st.sampled_from(typed), label="key")
        document[key] = draw(st.sampled_from([5, None, True, ["x"]]), label="value")
        return document, f"$.{key}"
    if kind == "bad-enum":
        candidates = [s for s in ENUMS[document["kind"]] if _has(document, s)]
        if document["kind"] == "provider":
            candidates += [("statuses", k) for k in document["statuses"]]
        steps = draw(st.sampled_from(candidates), label="path")
        put(document, steps, draw(st.sampled_from(["widget", "QUEUED", "", 2]), label="value"))
        return document, json_path(steps)
    steps = draw(st.sampled_from(_pointers(document)), label="pointer")
    put(document, steps, draw(st.sampled_from(["no/leading/slash", "/bad~escape", "/a~2b"]), label="corrupt"))
    return document, json_path(steps)


@st.composite
def random_damage(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """Any key deleted or any value replaced by one of another type: may or may not be legal."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3), label="damages")):
        nodes = [s for s, _ in walk(document) if s]
        if not nodes:
            break
        steps = draw(st.sampled_from(nodes), label="path")
        if isinstance(steps[-1], str) and draw(st.booleans(), label="delete"):
            del get(document, steps[:-1])[steps[-1]]
        else:
            put(document, steps, draw(st.sampled_from(wrong_type(get(document, steps))), label="value"))
    return document


# The file is drawn inside each property (not parametrised per file): the cost stays fixed as
# spec files are added; every file is still loaded and linted by the registry and lint tests.
spec_files = st.sampled_from(SPEC_FILES)
few = settings(max_examples=max(10, settings.default.max_examples * 2))


def _document(original: Path) -> dict[str, Any]:
    return json.loads(original.read_text(encoding="utf-8"))


@few
@given(data=st.data())
def test_a_document_broken_where_the_format_forbids_is_rejected_there(data: st.DataObject) -> None:
    original = data.draw(spec_files, label="spec file")
    document, target = data.draw(targeted_damage(_document(original)))
    check_rejected(document, original, target)


@few
@given(data=st.data())
def test_any_damage_is_loaded_or_rejected_with_spec_error_never_a_crash(data: st.DataObject) -> None:
    original = data.draw(spec_files, label="spec file")
    check_loads_or_spec_error(data.draw(random_damage(_document(original))), original)


MODEL_FILES = [p for p in SPEC_FILES if _document(p)["kind"] == "model"]
BROKEN_SCHEMAS: list[tuple[Path_, Any]] = [
    ((), {"type": 5}),
    ((), {"type": "object"}),
    ((), {"type": "array", "properties": {}}),
    (("type",), "objekt"),
    (("properties",), []),
    (("required",), "prompt"),
    (("additionalProperties",), "no"),
]
BROKEN_PROPERTY_SCHEMAS: list[Any] = [
    {"type": 5},
    {"type": "strin"},
    {"maxLength": -1},
    {"minItems": "3"},
    {"enum": "16:9"},
    {"pattern": "(["},
    {"items": 5},
    {"properties": []},
    "not a schema",
]


@few
@given(data=st.data())
def test_a_broken_parameter_schema_is_rejected(data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(MODEL_FILES), label="model file")
    document = _document(original)
    if data.draw(st.booleans(), label="whole schema"):
        steps, value = data.draw(st.sampled_from(BROKEN_SCHEMAS), label="breakage")
        target = json_path(("parameters", *steps))
        if steps:
            put(document["parameters"], steps, value)
        else:
            document["parameters"] = value
    else:
        name = data.draw(st.sampled_from(sorted(document["parameters"]["properties"])), label="parameter")
        value = data.draw(st.sampled_from(BROKEN_PROPERTY_SCHEMAS), label="breakage")
        document["parameters"]["properties"][name] = copy.deepcopy(value)
        target = json_path(("parameters", "properties", name))
    check_rejected(document, original, target)
