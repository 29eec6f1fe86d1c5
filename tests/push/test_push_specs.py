"""The push providers' specs: present with two models each, and lint catching what a push spec can get wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.lint import lint_files
from wan_engine.spec.registry import SpecRegistry


def test_each_push_provider_declares_callbacks_and_has_two_models() -> None:
    registry = SpecRegistry.discover()
    for provider_id in ("fal", "replicate", "lumalabs"):
        provider = registry.providers[provider_id]
        assert provider.callbacks is not None
        assert provider.callbacks.safety_polling.first_after_typical > 1
        assert len([m for m in registry.models() if m.provider.id == provider_id]) >= 2
    assert registry.providers["replicate"].callbacks.signature.verifiable  # type: ignore[union-attr]
    assert registry.providers["fal"].result_request is not None


def _write(folder: Path, name: str, document: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(json.dumps(document))
    return path


def test_lint_requires_a_secret_for_standard_webhooks_and_a_pointer_for_a_body_url(tmp_path: Path) -> None:
    provider = json.loads((bundled_specs_dir() / "providers/replicate.json").read_text())
    provider["id"] = "replicate-copy"
    provider["callbacks"]["url"] = {"place": "body"}
    del provider["callbacks"]["signature"]["secret_env"]
    report = lint_files([_write(tmp_path, "p.json", provider)])
    messages = {(p.path, p.message) for found in report.problems.values() for p in found}
    assert ("$.callbacks.signature.secret_env", "is required") in messages
    assert ("$.callbacks.url.pointer", "is required") in messages


def test_lint_names_a_missing_path_variable_and_a_callback_field_the_template_uses(tmp_path: Path) -> None:
    fal_model = json.loads((bundled_specs_dir() / "models/fal-ai/kling-video-v2-master-text-to-video.json").read_text())
    fal_model["id"] = "fal-ai/copy-without-app"
    del fal_model["path_vars"]
    replicate_model = json.loads((bundled_specs_dir() / "models/replicate/minimax-video-01.json").read_text())
    replicate_model["id"] = "replicate/copy-with-webhook"
    replicate_model["submit"] = {"body": {"input": {"$params": "*"}, "webhook": "https://mine.example/hook"}}
    fal_path, replicate_path = _write(tmp_path, "a.json", fal_model), _write(tmp_path, "b.json", replicate_model)
    report = lint_files([fal_path, replicate_path])
    assert [p.message for p in report.problems[str(fal_path)]] == [
        "fal's paths use {app}: give its value in $.path_vars.app"
    ]
    assert [p.message for p in report.problems[str(replicate_path)]] == [
        "places something at /webhook, where callbacks put their URL"
    ]
