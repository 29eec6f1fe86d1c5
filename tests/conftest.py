"""Shared set-up for the spec-layer tests: hypothesis profiles, the registry, the specs to test.

Property tests take a ``model_spec`` argument and are parametrised here over every
model spec the registry discovers (the bundled specs/ folder, WAN_ENGINE_SPEC_PATH
folders and ``wan_engine.specs`` entry points), plus the test-only specs in
tests/spec_fixtures/extra_specs (which exercise keywords and body templates the
bundled specs do not use). A spec file dropped into any specs folder is therefore
tested with no new test code.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, settings

from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.registry import SpecRegistry

# ci: bounded and derandomized, so a CI run is fast and the same every time.
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# dev: many more examples, random seeds and the example database, for hunting bugs locally.
settings.register_profile(
    "dev",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# fast: the local edit-test loop (``pytest -m "not e2e"``); a property still sees a few dozen
# inputs across its specs, and the ci profile runs the full bounded count.
settings.register_profile(
    "fast",
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "fast"))

E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ is end to end; tests elsewhere opt in with ``@pytest.mark.e2e``."""
    for item in items:
        if E2E in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)

FIXTURES = Path(__file__).resolve().parent / "support" / "spec_fixtures"
EXTRA_SPECS = FIXTURES / "extra_specs"


@functools.cache
def discovered_registry() -> SpecRegistry:
    """What the engine itself sees: bundled specs, WAN_ENGINE_SPEC_PATH and entry points."""
    return SpecRegistry.discover()


@functools.cache
def fixture_registry() -> SpecRegistry:
    """The bundled specs plus the test-only ones (their own provider included)."""
    return SpecRegistry.from_folders([bundled_specs_dir(), EXTRA_SPECS])


def all_model_specs() -> list[ModelSpec]:
    """Every model spec to run the property tests on, discovered ones first, one per id."""
    specs = {spec.id: spec for spec in discovered_registry().models()}
    for spec in fixture_registry().models():
        specs.setdefault(spec.id, spec)
    return list(specs.values())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "model_spec" in metafunc.fixturenames:
        specs = all_model_specs()
        metafunc.parametrize("model_spec", specs, ids=[spec.id for spec in specs])


@pytest.fixture(scope="session")
def registry() -> SpecRegistry:
    return discovered_registry()


@pytest.fixture(scope="session")
def wan_spec(registry: SpecRegistry) -> ModelSpec:
    return registry.model("alibaba/wan-2-7-r2v")


@pytest.fixture
def clean_spec_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No WAN_ENGINE_SPEC_PATH from the caller's shell, for tests that count what is found."""
    monkeypatch.delenv("WAN_ENGINE_SPEC_PATH", raising=False)


# -- network off ---------------------------------------------------------------------------
# Nothing in this suite may reach beyond this machine: every socket connect (and DNS lookup)
# to a non-loopback address fails, so a test that would quietly call a real API fails loudly
# instead. Loopback (127.0.0.0/8, ::1) and AF_UNIX stay open for the sandbox and local servers.
# WAN_ENGINE_ALLOW_NETWORK=1 turns the guard off for a debugging session.

import errno  # noqa: E402
import ipaddress  # noqa: E402
import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402


class NetworkDisabledError(ConnectionRefusedError):
    """Raised by the test suite's network guard instead of connecting beyond loopback."""


def _is_loopback_host(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def _allowed(family: int, address: Any) -> bool:
    if family == getattr(socket, "AF_UNIX", object()):
        return True
    if isinstance(address, (str, bytes)):  # a path: an AF_UNIX address on a socket of unknown family
        return True
    return isinstance(address, tuple) and bool(address) and _is_loopback_host(address[0])


def _refuse(address: Any) -> NetworkDisabledError:
    return NetworkDisabledError(
        errno.ECONNREFUSED, f"network is off in tests: refused to connect to {address!r} (only loopback is allowed)"
    )


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _allowed(self.family, address):
        raise _refuse(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _allowed(self.family, address):
        return errno.ECONNREFUSED
    return _real_connect_ex(self, address)


def _guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    if not _is_loopback_host(address[0]):
        raise _refuse(address)
    return _real_create_connection(address, *args, **kwargs)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    # Numeric addresses resolve locally (connecting to them is guarded above); names other
    # than localhost would need DNS, which is network too.
    if host is not None and not _is_loopback_host(host):
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, f"network is off in tests: no DNS lookup of {name!r}") from None
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _network_off() -> Iterator[None]:
    if os.environ.get("WAN_ENGINE_ALLOW_NETWORK") == "1":
        yield
        return
    patched = {
        (socket.socket, "connect"): _guarded_connect,
        (socket.socket, "connect_ex"): _guarded_connect_ex,
        (socket, "create_connection"): _guarded_create_connection,
        (socket, "getaddrinfo"): _guarded_getaddrinfo,
    }
    originals = {key: getattr(*key) for key in patched}
    for (owner, name), replacement in patched.items():
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session, for tests that talk to a server of their own."""
    async with aiohttp.ClientSession() as session:
        yield session

