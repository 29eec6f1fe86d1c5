"""CI runs the README's own set-up and test command, not a private recipe (a user's first step must work)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_installs_exactly_as_the_readme_says() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    [install] = re.findall(r"^pip install -e .*$", readme, flags=re.M)
    assert install.replace("pip install", "pip install -q", 1) in ci
    assert "python -m pytest" in readme and "python -m pytest" in ci


def test_every_plugin_the_tests_import_is_in_the_readme_setup() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for plugin in sorted((ROOT / "plugins").iterdir()):
        if (plugin / "pyproject.toml").exists():
            assert f"-e plugins/{plugin.name}" in readme, plugin.name
