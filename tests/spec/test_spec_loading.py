"""Loading spec files: every way a spec can be wrong is reported by file and JSON path."""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from wan_engine import plugins
from wan_engine.errors import DuplicateSpecError, InvalidSpecsError, SpecError
from wan_engine.spec.files import bundled_specs_dir, load_file
from wan_engine.spec.registry import SpecRegistry

WAN = bundled_specs_dir() / "models" / "alibaba" / "wan-2-7-r2v.json"
AIMLAPI = bundled_specs_dir() / "providers" / "aimlapi.json"


def wan_document(**changes: Any) -> dict[str, Any]:
    document = json.loads(WAN.read_text(encoding="utf-8"))
    document.update(changes)
    return document


def write_spec(folder: Path, name: str, document: Any) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2), encoding="utf-8")
    return path


def registry_errors(*files: Path) -> list[Any]:
    with pytest.raises(InvalidSpecsError) as caught:
        SpecRegistry.from_files([AIMLAPI, *files])
    return caught.value.errors


def only_spec_error(*files: Path) -> SpecError:
    errors = registry_errors(*files)
    assert len(errors) == 1, errors
    assert isinstance(errors[0], SpecError)
    return errors[0]


def test_bundled_specs_load(registry: SpecRegistry) -> None:
    assert "alibaba/wan-2-7-r2v" in registry.models_by_id
    assert "aimlapi" in registry.providers
    assert registry.model("alibaba/wan-2-7-r2v").provider.id == "aimlapi"


def test_invalid_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "broken.json", '{\n  "format_version": 1,\n  "kind": "model",\n  "id": \n}\n')
    with pytest.raises(SpecError) as caught:
        load_file(path)
    assert caught.value.file == str(path)
    assert str(path) in str(caught.value)
    assert "line 5" in str(caught.value)


@pytest.mark.parametrize("text", ["[]", '"a spec"', "3"])
def test_a_document_that_is_not_an_object_is_rejected(tmp_path: Path, text: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_file(write_spec(tmp_path, "x.json", text))
    assert [p.path for p in caught.value.problems] == ["$"]


def test_unreadable_bytes_are_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"title": "caf\xe9"}')
    with pytest.raises(SpecError, match="cannot read"):
        load_file(path)


def test_meta_schema_breaches_are_all_listed_in_one_error(tmp_path: Path) -> None:
    document = wan_document(id="Not An Id", spec_version="1.0", title="", provider=5)
    document["polling"] = {"recommended_interval_s": 0}
    path = write_spec(tmp_path, "bad.json", document)
    with pytest.raises(SpecError) as caught:
        load_file(path)
    paths = {p.path for p in caught.value.problems}
    assert {"$.id", "$.spec_version", "$.title", "$.provider", "$.polling.recommended_interval_s"} <= paths
    assert str(path) in str(caught.value)


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "bad.json", wan_document(titel="typo"))
    with pytest.raises(SpecError, match="titel"):
        load_file(path)


def test_an_unknown_provider_is_reported_at_dollar_provider(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "m.json", wan_document(id="test/orphan", provider="nobody"))
    error = only_spec_error(path)
    assert error.file == str(path)
    assert [p.path for p in error.problems] == ["$.provider"]
    assert "nobody" in error.problems[0].message


def test_duplicate_model_ids_in_two_folders_name_both_files(tmp_path: Path) -> None:
    first = write_spec(tmp_path / "one", "wan.json", wan_document(id="test/twin"))
    second = write_spec(tmp_path / "two", "wan.json", wan_document(id="test/twin"))
    with pytest.raises(InvalidSpecsError) as caught:
        SpecRegistry.from_folders([bundled_specs_dir(), tmp_path / "one", tmp_path / "two"])
    duplicates = [e for e in caught.value.errors if isinstance(e, DuplicateSpecError)]
    assert len(duplicates) == 1
    assert str(first) in str(duplicates[0]) and str(second) in str(duplicates[0])
    assert "test/twin" in str(caught.value)


def test_the_same_folder_twice_is_read_once(tmp_path: Path, clean_spec_env: None) -> None:
    write_spec(tmp_path, "wan.json", wan_document(id="test/once"))
    registry = SpecRegistry.discover([tmp_path, tmp_path / ".", str(tmp_path)])
    assert "test/once" in registry.models_by_id


def test_a_valid_example_that_fails_is_named_by_its_index(tmp_path: Path) -> None:
    document = wan_document(id="test/examples")
    document["examples"][1]["params"]["negative_prompt"] = "n" * 501
    error = only_spec_error(write_spec(tmp_path, "m.json", document))
    assert [p.path for p in error.problems] == ["$.examples[1].params.negative_prompt"]
    assert "images-and-first-frame" in error.problems[0].message


def test_an_invalid_example_that_passes_is_named_by_its_index(tmp_path: Path) -> None:
    document = wan_document(id="test/examples")
    document["examples"][3]["params"]["duration"] = 5
    error = only_spec_error(write_spec(tmp_path, "m.json", document))
    assert [p.path for p in error.problems] == ["$.examples[3].params"]
    assert "marked invalid" in error.problems[0].message


def test_a_body_template_placing_an_undefined_parameter_is_rejected(tmp_path: Path) -> None:
    document = wan_document(id="test/body")
    document["submit"] = {"body": {"model": {"$var": "model"}, "seed_value": {"$param": "sead"}, "$params": "*"}}
    error = only_spec_error(write_spec(tmp_path, "m.json", document))
    assert [p.path for p in error.problems] == ["$.submit.body"]
    assert "'sead'" in error.problems[0].message


def test_a_body_template_with_an_unknown_variable_is_rejected(tmp_path: Path) -> None:
    document = wan_document(id="test/body")
    document["submit"] = {"body": {"model": {"$var": "modle"}, "$params": "*"}}
    error = only_spec_error(write_spec(tmp_path, "m.json", document))
    assert "'modle'" in str(error)


@pytest.mark.parametrize(
    "body",
    [
        {"model": {"$var": ["model"]}, "$params": "*"},
        {"model": {"$var": "model"}, "prompt": {"$param": {"name": "prompt"}}, "$params": "*"},
        {"model": {"$var": "model"}, "x": [{"$param": 5}], "$params": "*"},
        {"model": {"$var": "model"}, "$params": "all"},
    ],
    ids=["var-not-a-string", "param-not-a-string", "param-a-number", "spread-not-star"],
)
def test_a_malformed_body_template_is_a_spec_error(tmp_path: Path, body: Any) -> None:
    document = wan_document(id="test/body")
    document["submit"] = {"body": body}
    error = only_spec_error(write_spec(tmp_path, "m.json", document))
    assert all(p.path.startswith("$.submit.body") for p in error.problems), error.problems


def test_a_malformed_provider_template_is_reported_against_the_provider(tmp_path: Path) -> None:
    provider = json.loads(AIMLAPI.read_text(encoding="utf-8"))
    provider["submit"]["body"]["model"] = {"$var": ["model"]}
    path = write_spec(tmp_path, "aimlapi.json", provider)
    with pytest.raises(InvalidSpecsError) as caught:
        SpecRegistry.from_files([path, WAN])
    errors = caught.value.errors
    assert [e.file for e in errors] == [str(path)]
    assert [p.path for p in errors[0].problems] == ["$.submit.body.model.$var"]


def test_an_unresolvable_ref_in_the_parameters_is_a_spec_error(tmp_path: Path) -> None:
    document = wan_document(id="test/ref")
    document["parameters"]["properties"]["prompt"] = {"$ref": "#/$defs/nowhere"}
    error = only_spec_error(write_spec(tmp_path, "m.json", document))
    assert any(p.path.startswith("$.parameters.properties.prompt") for p in error.problems), error.problems


def test_a_resolvable_ref_in_the_parameters_is_fine(tmp_path: Path) -> None:
    document = wan_document(id="test/ref")
    document["parameters"]["$defs"] = {"url": {"type": "string", "format": "uri"}}
    document["parameters"]["properties"]["first_frame_image"] = {"$ref": "#/$defs/url"}
    registry = SpecRegistry.from_files([AIMLAPI, write_spec(tmp_path, "m.json", document)])
    assert registry.model("test/ref").validator.is_valid({"prompt": "x", "first_frame_image": "https://a.b/c"})


@pytest.mark.parametrize(
    "defs",
    [
        {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
        {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/a"}]}},
        {"a": {"if": {"$ref": "#/$defs/a"}}},
    ],
    ids=["ref-to-ref", "through-allOf-anyOf", "self-through-if"],
)
def test_a_ref_loop_that_never_reaches_data_is_a_spec_error_not_a_recursion_error(
    tmp_path: Path, defs: dict[str, Any]
) -> None:
    document = wan_document(id="test/loop")
    document["parameters"]["$defs"] = defs
    document["parameters"]["properties"]["seed"] = {"$ref": "#/$defs/a"}
    error = only_spec_error(write_spec(tmp_path, "m.json", document))
    [problem] = error.problems
    assert problem.path.startswith("$.parameters.$defs.") and problem.path.endswith(".$ref"), problem
    assert "cycle that never reaches data" in problem.message and "/$defs/a" in problem.message


def test_a_schema_recursive_through_data_is_fine(tmp_path: Path) -> None:
    document = wan_document(id="test/tree")
    document["parameters"]["$defs"] = {
        "node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}
    }
    document["parameters"]["properties"]["seed"] = {"$ref": "#/$defs/node"}
    registry = SpecRegistry.from_files([AIMLAPI, write_spec(tmp_path, "m.json", document)])
    assert registry.model("test/tree").validator.is_valid({"prompt": "x", "seed": {"children": [{"children": []}]}})


def test_every_bad_file_is_reported_not_just_the_first(tmp_path: Path) -> None:
    one = write_spec(tmp_path, "one.json", "{")
    two = write_spec(tmp_path, "two.json", wan_document(id="test/two", provider="nobody"))
    errors = registry_errors(one, two)
    assert {e.file for e in errors} == {str(one), str(two)}


# -- where specs come from -----------------------------------------------------------------------


def copy_as(folder: Path, model_id: str) -> Path:
    return write_spec(folder, model_id.replace("/", "_") + ".json", wan_document(id=model_id))


def test_extra_folders_by_argument(tmp_path: Path, clean_spec_env: None) -> None:
    copy_as(tmp_path / "a", "test/by-argument")
    assert "test/by-argument" in SpecRegistry.discover([tmp_path / "a"]).models_by_id


def test_extra_folders_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_as(tmp_path / "a", "test/env-a")
    copy_as(tmp_path / "b", "test/env-b")
    monkeypatch.setenv("WAN_ENGINE_SPEC_PATH", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    models = SpecRegistry.discover().models_by_id
    assert {"test/env-a", "test/env-b", "alibaba/wan-2-7-r2v"} <= set(models)


def test_the_meta_folder_is_not_read_as_specs(tmp_path: Path, clean_spec_env: None) -> None:
    write_spec(tmp_path / "meta", "whatever.json", {"not": "a spec"})
    copy_as(tmp_path, "test/beside-meta")
    assert "test/beside-meta" in SpecRegistry.discover([tmp_path]).models_by_id


def make_distribution(root: Path, entry_points: dict[str, str], module: str, source: str) -> None:
    """A real installed distribution (dist-info) registering ``wan_engine.specs`` entry points."""
    name = f"specpack_{uuid.uuid4().hex[:8]}"
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[wan_engine.specs]\n{lines}", encoding="utf-8")
    (root / f"{module}.py").write_text(source, encoding="utf-8")


def test_extra_folders_by_entry_point_and_a_broken_plugin_does_not_stop_discovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_spec_env: None
) -> None:
    folder = tmp_path / "packaged_specs"
    copy_as(folder, "test/from-entry-point")
    listed = tmp_path / "listed_specs"
    copy_as(listed, "test/from-a-list")
    module = f"specpack_mod_{uuid.uuid4().hex[:8]}"
    make_distribution(
        tmp_path / "site",
        {
            "packaged": f"{module}:spec_folder",
            "listed": f"{module}:FOLDERS",
            "broken": f"{module}_missing:spec_folder",
            "raising": f"{module}:raises",
        },
        module,
        f"FOLDERS = [{str(listed)!r}]\n\n\ndef spec_folder():\n    return {str(folder)!r}\n\n\n"
        f"raises = None\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, module, raising=False)

    found = plugins.load("specs")
    assert {"packaged", "listed"} <= set(found.loaded)
    failures = {f.name: f for f in found.failures}
    assert "broken" in failures
    assert "ModuleNotFoundError" in failures["broken"].error
    assert failures["broken"].value == f"{module}_missing:spec_folder"

    with pytest.warns(RuntimeWarning, match="'raising'"):  # loads, but gives None instead of a folder
        registry = SpecRegistry.discover()
    assert {"test/from-entry-point", "test/from-a-list", "alibaba/wan-2-7-r2v"} <= set(registry.models_by_id)
    with pytest.raises(LookupError, match="failed to load"):
        found.get("broken")


def test_a_plugin_that_raises_on_import_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = f"specpack_boom_{uuid.uuid4().hex[:8]}"
    make_distribution(tmp_path, {"boom": f"{module}:spec_folder"}, module, "raise RuntimeError('no specs today')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = plugins.load("specs")
    assert any(f.name == "boom" and "no specs today" in f.error for f in found.failures)
    assert "alibaba/wan-2-7-r2v" in SpecRegistry.discover().models_by_id


def test_a_new_file_is_a_new_model_with_no_code(tmp_path: Path, clean_spec_env: None) -> None:
    shutil.copy(WAN, tmp_path / "copy.json")
    document = json.loads((tmp_path / "copy.json").read_text(encoding="utf-8"))
    document["id"] = "test/copied"
    (tmp_path / "copy.json").write_text(json.dumps(document), encoding="utf-8")
    registry = SpecRegistry.discover([tmp_path])
    assert registry.model("test/copied").parameters == registry.model("alibaba/wan-2-7-r2v").parameters
