"""Small model spec documents for tests of one format feature at a time, and a registry holding one.

Written to a temporary folder beside the bundled providers, so a test does not
depend on any particular bundled model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.registry import SpecRegistry


def model_document(model_id: str, title: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A minimal valid AI/ML API model spec with a required prompt among ``properties``."""
    return {
        "format_version": 1,
        "kind": "model",
        "id": model_id,
        "title": title,
        "provider": "aimlapi",
        "spec_version": "0.1.0",
        "parameters": {
            "type": "object",
            "additionalProperties": False,
            "required": ["prompt"],
            "properties": {"prompt": {"type": "string", "minLength": 1}, **properties},
        },
        **extra,
    }


def registry_with(tmp_path: Path, document: dict[str, Any]) -> SpecRegistry:
    """The bundled specs plus ``document`` as models/m.json under ``tmp_path``."""
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    (folder / "m.json").write_text(json.dumps(document), encoding="utf-8")
    return SpecRegistry.from_folders([bundled_specs_dir(), tmp_path])
