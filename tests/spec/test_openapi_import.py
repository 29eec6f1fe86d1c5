"""``wan-engine spec import``: a draft spec from a per-model OpenAPI file, and the bundled breadth.

The OpenAPI documents here are written in the AI/ML API's style (one POST on the video
endpoint, the model as a one-item enum) with the quirks its real files have: ``nullable``,
numbers written as strings, a default outside its own enum, a ``$ref``, a legacy path,
Swagger-2 ``required: true`` on a property.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from wan_engine.cli.main import cli
from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.lint import lint_files
from wan_engine.spec.openapi_import import Source, draft_specs
from wan_engine.spec.registry import SpecRegistry, spec_files


def openapi(path: str = "/v2/video/generations", **extra: Any) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "model": {"type": "string", "enum": ["acme/video-1"]},
            "prompt": {"type": "string", "maxLength": 800, "description": "What to show."},
            "duration": {"type": "integer", "enum": ["5", "10"], "default": "5"},
            "resolution": {"type": "string", "enum": ["720p", "1080p"], "default": "1080P"},
            "seed": {"type": "integer", "nullable": True, "example": 42},
            "image_url": {"$ref": "#/components/schemas/Url", "required": True},
        },
        "required": ["model", "prompt"],
        **extra,
    }
    return {
        "openapi": "3.0.0",
        "paths": {path: {"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}},
        "components": {"schemas": {"Url": {"type": "string", "format": "uri"}}},
    }


def test_a_draft_maps_the_request_schema_and_says_what_to_check() -> None:
    [draft] = draft_specs(openapi(), Source("docs/x/acme.json", "acme/docs", "a" * 40))
    spec = draft.document
    props = spec["parameters"]["properties"]
    assert spec["id"] == "acme/video-1" and "model" not in props
    assert spec["parameters"]["required"] == ["prompt"] and spec["parameters"]["additionalProperties"] is False
    assert props["duration"]["enum"] == [5, 10] and props["duration"]["default"] == 5
    assert "default" not in props["resolution"], "a default outside its own enum is dropped"
    assert props["seed"]["type"] == ["integer", "null"] and props["seed"]["examples"] == [42]
    assert props["image_url"]["format"] == "uri" and "required" not in props["image_url"]
    assert all("Source: docs/x/acme.json" in p["description"] for p in props.values())
    assert spec["imported_from"] == {
        "source": "openapi", "path": "docs/x/acme.json", "repository": "acme/docs", "commit": "a" * 40,
        "tool": "wan-engine spec import",
    }
    assert spec["review"]["status"] == "drafted"
    notes = " ".join(spec["review"]["notes"])
    assert "'1080P' is not in its own enum" in notes and "Swagger 2" in notes and "additionalProperties" in notes


def test_a_legacy_path_is_noted_and_the_standard_endpoint_used() -> None:
    [draft] = draft_specs(openapi("/v2/generate/video/acme/generation"), Source("a.json"))
    assert any("legacy path /v2/generate/video/acme/generation" in n for n in draft.notes)


def test_the_import_command_writes_a_spec_that_lints_and_keeps_existing_files(tmp_path: Path) -> None:
    source = tmp_path / "acme.json"
    source.write_text(json.dumps(openapi()), encoding="utf-8")
    out = tmp_path / "specs"
    runner = CliRunner()
    result = runner.invoke(cli, ["spec", "import", str(source), "--commit", "b" * 40, "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = out / "acme" / "video-1.json"
    assert lint_files([written]).ok
    registry = SpecRegistry.from_folders([bundled_specs_dir(), out])
    assert registry.model("acme/video-1").document.imported_from.commit == "b" * 40  # type: ignore[union-attr]
    again = runner.invoke(cli, ["spec", "import", str(source), "--out", str(out)])
    assert again.exit_code == 0 and "kept" in again.output


def test_a_file_without_a_request_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "empty.json"
    source.write_text(json.dumps({"openapi": "3.0.0", "paths": {}}), encoding="utf-8")
    result = CliRunner().invoke(cli, ["spec", "import", str(source), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "no POST request schema naming a model" in result.output
    assert "Traceback" not in result.output


def test_the_bundled_specs_cover_the_providers_video_models_and_all_lint() -> None:
    registry = SpecRegistry.discover()
    aimlapi = [m for m in registry.models() if m.provider.id == "aimlapi"]
    assert len(aimlapi) >= 120
    assert all(m.document.imported_from is not None and m.document.review is not None for m in aimlapi)
    files = list(spec_files(bundled_specs_dir()))
    report = lint_files(files)
    assert report.ok, {k: v for k, v in report.problems.items() if v}
