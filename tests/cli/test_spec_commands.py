"""``wan-engine spec lint`` and ``spec new``: every problem located by a JSON path; skeletons pass lint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from wan_engine.cli.spec import spec_group
from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.lint import lint_files
from wan_engine.spec.registry import SpecRegistry


@pytest.fixture(autouse=True)
def _clean_spec_path(clean_spec_env: None) -> None:
    """No WAN_ENGINE_SPEC_PATH from the caller's shell: references resolve against the bundled specs."""


def run(*args: str) -> Result:
    return CliRunner().invoke(spec_group, list(args), catch_exceptions=False)


def bundled(relative: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((bundled_specs_dir() / relative).read_text(encoding="utf-8"))
    return document


def write(folder: Path, name: str, document: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document, encoding="utf-8")
    return path


def renamed(document: dict[str, Any], model_id: str) -> dict[str, Any]:
    """A copy of a bundled model under a new id, so it is not a duplicate of the original."""
    return {**document, "id": model_id}


def test_every_bundled_spec_lints_clean() -> None:
    root = bundled_specs_dir()
    files = sorted(p for p in root.rglob("*.json") if "meta" not in p.relative_to(root).parts)
    result = run("lint", *map(str, files))
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == len(files)


def test_a_file_that_is_not_json_is_located_at_the_root(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", "{not json")
    result = run("lint", str(path))
    assert result.exit_code == 1
    assert f"{path}: $: not JSON" in result.output


def test_format_problems_name_their_path(tmp_path: Path) -> None:
    document = renamed(bundled("models/alibaba/wan-2-7-t2v.json"), "test/lint-format")
    document["spec_version"] = "one"
    document["polling"]["typical_duration_s"] = -1
    path = write(tmp_path, "format.json", document)
    result = run("lint", str(path))
    assert result.exit_code == 1
    assert f"{path}: $.spec_version:" in result.output
    assert f"{path}: $.polling.typical_duration_s:" in result.output


def test_an_unknown_provider_is_reported_with_the_known_ones(tmp_path: Path) -> None:
    document = renamed(bundled("models/alibaba/wan-2-7-t2v.json"), "test/lint-provider")
    document["provider"] = "nowhere"
    result = run("lint", str(write(tmp_path, "m.json", document)))
    assert result.exit_code == 1
    assert "$.provider: no provider 'nowhere'; known: aimlapi, dashscope" in result.output


def test_examples_that_lie_are_reported_at_their_params(tmp_path: Path) -> None:
    document = renamed(bundled("models/minimax/hailuo-2.3.json"), "test/lint-examples")
    document["examples"][0]["params"]["duration"] = 7
    document["examples"].append({"name": "not-really-invalid", "valid": False, "params": {"prompt": "fine"}})
    result = run("lint", str(write(tmp_path, "m.json", document)))
    assert result.exit_code == 1
    assert "$.examples[0].params.duration: example 'dragon' is marked valid but must be one of 6, 10" in result.output
    last = len(document["examples"]) - 1
    assert f"$.examples[{last}].params: example 'not-really-invalid' is marked invalid" in result.output


def test_template_placements_are_checked(tmp_path: Path) -> None:
    document = renamed(bundled("models/dashscope/wan2.7-r2v.json"), "test/lint-template")
    document["submit"]["body"]["input"]["negative"] = {"$param": "negative"}
    del document["submit"]["body"]["parameters"]["seed"]
    document["submit"]["body"]["parameters"]["resolution"] = {"$param": 5}
    result = run("lint", str(write(tmp_path, "m.json", document)))
    assert result.exit_code == 1
    assert "$.submit.body.parameters.resolution.$param: must be a name" in result.output
    document["submit"]["body"]["parameters"]["resolution"] = {"$param": "resolution"}
    result = run("lint", str(write(tmp_path, "m.json", document)))
    assert "$.submit.body: places parameter 'negative', which $.parameters does not define" in result.output
    assert "$.parameters.properties.seed: is neither placed by the body template" in result.output


def test_a_model_and_its_new_provider_lint_together(tmp_path: Path) -> None:
    provider = {**bundled("providers/dashscope.json"), "id": "acme-cloud"}
    model = renamed(bundled("models/dashscope/wan2.7-t2v.json"), "test/lint-pair")
    model["provider"] = "acme-cloud"
    model_path = write(tmp_path, "model.json", model)
    alone = run("lint", str(model_path))
    assert alone.exit_code == 1 and "no provider 'acme-cloud'" in alone.output
    together = run("lint", str(write(tmp_path, "provider.json", provider)), str(model_path))
    assert together.exit_code == 0, together.output


def test_provider_cross_references_are_checked(tmp_path: Path) -> None:
    provider = {**bundled("providers/dashscope.json"), "id": "acme-cloud"}
    provider["unknown_task_status"] = "GONE"
    provider["cancellable_states"] = ["queued", "running"]
    del provider["statuses"]["RUNNING"]
    result = run("lint", str(write(tmp_path, "provider.json", provider)))
    assert result.exit_code == 1
    assert "$.unknown_task_status: 'GONE' is not mapped in $.statuses" in result.output
    assert "$.cancellable_states[1]: no status in $.statuses maps to running" in result.output


def test_a_duplicate_id_is_reported(tmp_path: Path) -> None:
    result = run("lint", str(write(tmp_path, "copy.json", bundled("models/google/veo-3.1-t2v.json"))))
    assert result.exit_code == 1
    assert "$.id: model 'google/veo-3.1-t2v' is already defined by" in result.output


@pytest.mark.parametrize("provider", ["aimlapi", "dashscope"])
def test_new_writes_a_skeleton_that_passes_lint_and_loads(tmp_path: Path, provider: str) -> None:
    result = run("new", "acme/video-1", "--provider", provider, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    path = tmp_path / "acme" / "video-1.json"
    assert f"wrote {path}" in result.output
    assert lint_files([path]).ok
    assert run("lint", str(path)).exit_code == 0
    registry = SpecRegistry.from_folders([bundled_specs_dir(), tmp_path])
    spec = registry.model("acme/video-1")
    assert spec.provider.id == provider and spec.document.examples[1].valid is False


def test_new_refuses_to_overwrite_bad_ids_and_unknown_providers(tmp_path: Path) -> None:
    assert run("new", "acme/video-1", "--provider", "aimlapi", "--out", str(tmp_path)).exit_code == 0
    again = run("new", "acme/video-1", "--provider", "aimlapi", "--out", str(tmp_path))
    assert again.exit_code == 1 and "exists" in again.output
    assert run("new", "acme/video-1", "--provider", "aimlapi", "--out", str(tmp_path), "--force").exit_code == 0
    bad_id = run("new", "Acme/Video", "--provider", "aimlapi", "--out", str(tmp_path))
    assert bad_id.exit_code == 2 and "MODEL_ID" in bad_id.output
    unknown = run("new", "acme/video-2", "--provider", "nowhere", "--out", str(tmp_path))
    assert unknown.exit_code == 2 and "known: aimlapi, dashscope" in unknown.output
