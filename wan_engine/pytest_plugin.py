"""pytest fixtures for apps built on wan-engine: replay recorded sessions, or run against a sandbox.

Installed with wan-engine (entry point ``pytest11``); nothing to import:

- ``wan_replay(name)``: an Engine answering from a cassette (no network,
  virtual time). ``name`` is relative to ``--wan-cassettes DIR`` (ini:
  ``wan_cassettes``, default ``cassettes``), with or without ``.yaml``, or a path.
- ``wan_sandbox_engine``: an Engine on a sandbox running in a background
  thread, sharing virtual time with it; ``wan_sandbox`` is that sandbox.
  Configure it with ``@pytest.mark.wan_sandbox(faults=[...], duration_s=...)``.
- ``assert_cassette_keeps_contract(path)``: fails the test listing every breach.
- ``wan_registry``, ``wan_clock``, ``wan_cassette_dir``: the parts, if needed.

Both engines work as ``engine`` directly or as ``async with engine:``.

Loading this plugin imports nothing but pytest: every pytest run in an
environment that has wan-engine loads it, and an app's unrelated tests must
not pay for (or break on) the engine, the sandbox or the cassettes extra.
Each fixture imports what it needs when it is used; ``wan_replay`` and the
contract assertion need ``pip install 'wan-engine[cassettes]'``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from wan_engine.cassettes.replay import CassetteReplay
    from wan_engine.client.engine import Engine
    from wan_engine.client.polling import PollingStrategy
    from wan_engine.clock import VirtualClock
    from wan_engine.sandbox import Sandbox
    from wan_engine.spec.registry import SpecRegistry



def __getattr__(name: str) -> Any:
    """``assert_cassette_keeps_contract`` importable from here, loaded (with the cassettes extra) on first use."""
    if name == "assert_cassette_keeps_contract":
        from wan_engine.cassettes.contract import assert_cassette_keeps_contract

        return assert_cassette_keeps_contract
    raise AttributeError(name)

SANDBOX_KEY = "sandbox-test-key"
INI_NAME = "wan_cassettes"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wan-engine")
    group.addoption(
        "--wan-cassettes", dest="wan_cassettes", default=None, metavar="DIR",
        help="Folder of wan-engine cassettes for the wan_replay fixture (default: ini wan_cassettes, or cassettes).",
    )
    parser.addini(INI_NAME, "Folder of wan-engine cassettes, relative to the rootdir.", default="cassettes")
    group.addoption(
        "--wan-record-mode", dest="wan_record_mode", default=None, choices=("none", "once", "new", "all"),
        help="none (default): replay only, no network; once: record cassettes that do not exist; "
        "new: also record requests a cassette lacks; all: record every cassette again (keeping its history).",
    )
    parser.addini("wan_record_mode", "Default record mode for wan_replay (none, once, new, all).", default="none")


def pytest_configure(config: pytest.Config) -> None:
    # assert_cassette_keeps_contract() reads the folder from the environment: nothing is imported here.
    chosen = config.getoption("wan_cassettes", default=None) or config.getini(INI_NAME)
    if chosen:
        folder = Path(str(chosen))
        os.environ["WAN_ENGINE_CASSETTES"] = str(folder if folder.is_absolute() else config.rootpath / folder)
    config.addinivalue_line(
        "markers",
        "wan_sandbox(faults=(), duration_s=None, seed=0): configure the wan_sandbox fixture "
        "(faults as 'REQUEST:KIND[:key=value...]'; duration_s None means each model's typical duration).",
    )


@pytest.fixture
def wan_cassette_dir(pytestconfig: pytest.Config) -> Path:
    chosen = pytestconfig.getoption("wan_cassettes") or pytestconfig.getini(INI_NAME) or "cassettes"
    folder = Path(str(chosen))
    return folder if folder.is_absolute() else pytestconfig.rootpath / folder


@pytest.fixture(scope="session")
def wan_registry() -> SpecRegistry:
    """Every spec wan-engine discovers (bundled, WAN_ENGINE_SPEC_PATH, entry points)."""
    from wan_engine.spec.registry import SpecRegistry

    return SpecRegistry.discover()


@pytest.fixture
def wan_clock() -> VirtualClock:
    from wan_engine.clock import VirtualClock

    return VirtualClock()


def cassette_target(name: str | Path, folder: Path) -> Path:
    """Where a cassette named ``name`` is (or will be recorded): under ``folder``, ``.yaml`` added."""
    path = Path(name) if Path(name).is_absolute() else folder / name
    return path if path.suffix in (".yaml", ".yml") else path.with_name(path.name + ".yaml")


def resolve_cassette(name: str | Path, folder: Path) -> Path:
    candidates = [Path(name)] if Path(name).is_absolute() else [folder / name, Path(name)]
    for candidate in list(candidates):
        if candidate.suffix not in (".yaml", ".yml"):
            candidates.append(candidate.with_name(candidate.name + ".yaml"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no cassette {str(name)!r} in {folder} (looked for {', '.join(map(str, candidates))})")


@pytest.fixture
def wan_replay(
    wan_cassette_dir: Path, wan_registry: SpecRegistry, pytestconfig: pytest.Config
) -> Iterator[Callable[..., Engine]]:
    """A factory: ``wan_replay("alibaba/wan-2-7-r2v/success-reference-videos")`` gives a replaying Engine.

    With ``--wan-record-mode`` once/new/all it records instead where the mode says so (to the real
    API with the key from the environment, or to ``base_url=``); ``model=`` names the model when the
    cassette's folder does not.
    """
    from wan_engine.cassettes.record_modes import CassetteRecorder, needs_recording
    from wan_engine.cassettes.replay import CassetteReplay

    stack = ExitStack()
    active: list[CassetteReplay] = []

    def open_replay(
        name: str | Path,
        *,
        strategy: PollingStrategy | str = "fixed",
        clock: VirtualClock | None = None,
        registry: SpecRegistry | None = None,
        match_on: Sequence[str] = ("model",),
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
    ) -> Engine:
        if active:
            raise RuntimeError(
                f"{active[0].path} is already being replayed in this test: vcrpy patches aiohttp for the whole "
                "process, so replay one cassette per test"
            )
        mode = pytestconfig.getoption("wan_record_mode") or pytestconfig.getini("wan_record_mode") or "none"
        target = cassette_target(name, wan_cassette_dir)
        if needs_recording(str(mode), target):
            chosen = model or str(Path(name).parent).replace("\\", "/")
            recorder = CassetteRecorder(
                target, registry or wan_registry, chosen, mode=mode, base_url=base_url, api_key=api_key,  # type: ignore[arg-type]
                strategy=strategy,
            )  # fmt: skip
            return stack.enter_context(recorder)
        replay = CassetteReplay(
            resolve_cassette(name, wan_cassette_dir), registry or wan_registry, strategy=strategy, clock=clock,
            match_on=match_on,
        )  # fmt: skip
        engine = stack.enter_context(replay)
        active.append(replay)
        return engine

    with stack:
        yield open_replay


@pytest.fixture
def wan_sandbox(
    request: pytest.FixtureRequest, wan_registry: SpecRegistry, wan_clock: VirtualClock
) -> Iterator[Sandbox]:
    """A sandbox in a background thread, on ``wan_clock`` (virtual time the engine's sleeps advance)."""
    from wan_engine.sandbox import FaultPlan, FaultRule, SandboxConfig, running_in_thread

    marker = request.node.get_closest_marker("wan_sandbox")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    faults = tuple(FaultRule.parse(f) if isinstance(f, str) else f for f in options.pop("faults", ()))
    duration = options.pop("duration_s", None)
    config = SandboxConfig(
        duration_s=duration if duration is not None else 3.0,
        realistic=duration is None,
        seed=options.pop("seed", 0),
        api_key=options.pop("api_key", SANDBOX_KEY),
        clock=wan_clock.now,
        wall_clock=lambda: wan_clock.wall().timestamp(),
        faults=FaultPlan(faults),
        **options,
    )
    with running_in_thread(wan_registry, config) as sandbox:
        yield sandbox


@pytest.fixture
def wan_sandbox_engine(
    wan_sandbox: Sandbox, wan_registry: SpecRegistry, wan_clock: VirtualClock
) -> Iterator[Engine]:
    """An Engine talking to ``wan_sandbox``: a nine-minute job ends in milliseconds of test time."""
    from wan_engine.cassettes.transport import HarnessClient, close_quietly, loopback_test_connector
    from wan_engine.client.engine import Engine

    key = wan_sandbox.config.api_key or SANDBOX_KEY
    env = {p.auth.env: key for p in wan_registry.providers.values() if p.auth.env}
    transport = HarnessClient(
        connector_factory=loopback_test_connector, base_urls=wan_sandbox.base_urls(), env=env, clock=wan_clock
    )
    engine = Engine(wan_registry, client=transport, clock=wan_clock, strategy="fixed")
    yield engine
    close_quietly(engine.client)


@pytest.fixture(name="assert_cassette_keeps_contract")
def assert_cassette_keeps_contract_fixture(wan_registry: SpecRegistry) -> Callable[[str | Path], None]:
    """The contract assertion as a fixture, checking against ``wan_registry``."""

    from wan_engine.cassettes.contract import assert_cassette_keeps_contract

    def check(path: str | Path) -> None:
        assert_cassette_keeps_contract(path, wan_registry)

    return check
