"""Extract the AI/ML API documentation's own examples into fixtures (``source: docs``).

Run from the repository root against a checkout of ``aimlapi/api-docs``:

    python tests/support/docs_examples.py /path/to/api-docs COMMIT

For every model page under docs/api-references/video-models/ whose code sample names a
bundled model, it writes tests/spec/docs_examples/<model id, '/' as '__'>.json holding the
page's literal request bodies and printed answers (JSON data only, never code), the page
path and the docs commit. Signed-URL credentials in printed answers (any query
parameter naming a signature, credential, access key, token or security value) are
replaced by REDACTED: they are credentials, even in public docs.
These are the only fixtures no part of the project wrote; they are kept apart from sandbox
recordings and regenerated, never edited by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from wan_engine.spec.docs_page import read_page
from wan_engine.spec.registry import SpecRegistry

FOLDER = "docs/api-references/video-models"
OUT = Path(__file__).resolve().parents[1] / "spec" / "docs_examples"
_SECRET_QUERY = re.compile(
    r"(?i)((?:^|[?&])[a-z0-9_.-]*(?:signature|credential|accesskey|token|security|sig|jwt|x-amz-[a-z-]+)[a-z0-9_.-]*=)[^&#]*"
)


def redact(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("http") and "?" in value:
        base, query = value.split("?", 1)
        return base + "?" + _SECRET_QUERY.sub(r"\1REDACTED", query)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def fixture_name(model_id: str) -> str:
    return model_id.replace("/", "__") + ".json"


def main(root: Path, commit: str) -> int:
    models = {spec.id for spec in SpecRegistry.discover().models()}
    written = 0
    for page in sorted((root / FOLDER).rglob("*.md")):
        facts = read_page(page.read_text(encoding="utf-8"))
        by_model: dict[str, list[dict[str, Any]]] = {}
        for body in facts.request_bodies:
            model = body.get("model")
            if isinstance(model, str) and model in models and body not in by_model.get(model, []):
                by_model.setdefault(model, []).append(body)
        if len(by_model) != 1:
            continue  # no bundled model, or a page about several: answers could not be attributed
        [(model, bodies)] = by_model.items()
        target = OUT / fixture_name(model)
        where = page.relative_to(root).as_posix()
        if target.exists() and json.loads(target.read_text(encoding="utf-8"))["path"] != where:
            continue  # the first page naming a model keeps it
        fixture = {
            "source": "docs",
            "source_means": "JSON bodies from the provider's documentation page (tests/support/docs_examples.py)",
            "repository": "aimlapi/api-docs",
            "commit": commit,
            "path": page.relative_to(root).as_posix(),
            "model": model,
            "requests": bodies,
            "responses": [redact(r) for r in facts.responses],
        }
        target.write_text(json.dumps(fixture, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written += 1
    print(f"wrote {written} fixture(s) to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
