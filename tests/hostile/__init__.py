"""The hostile provider and the tests run against it (a package, so its conftest does not shadow tests/conftest.py)."""
