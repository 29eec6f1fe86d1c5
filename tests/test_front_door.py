"""The front door: ``import wan_engine`` gives the whole public surface, cheaply, and nothing slips in or out.

The list below is the public API, written out on purpose: adding or removing a
name is a decision, made by editing this list in the same change.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import wan_engine

ROOT = Path(__file__).resolve().parents[1]

PUBLIC = [
    "Adaptive",
    "ApiError",
    "AuthenticationError",
    "BatchItem",
    "BatchOutcome",
    "BatchProgress",
    "Budget",
    "BudgetExceededError",
    "CallbackReceiver",
    "CassetteError",
    "CassetteFormatError",
    "CassetteMismatchError",
    "CassetteReplay",
    "CassetteRequestMismatchError",
    "Clock",
    "Completed",
    "CostReported",
    "CredentialError",
    "DataSink",
    "DeadlineExceededError",
    "DeliveryError",
    "DeliveryReport",
    "DeliveryState",
    "DeliverySummary",
    "DownloadError",
    "DownloadPolicy",
    "DuplicateSpecError",
    "DurableEngine",
    "Engine",
    "Estimate",
    "Event",
    "ExponentialBackoff",
    "Failed",
    "FaultPlan",
    "FaultRule",
    "FileSink",
    "FixedInterval",
    "Hop",
    "IdempotencyKeyMismatchError",
    "InvalidSpecsError",
    "Job",
    "JobCancelledError",
    "JobFailedError",
    "JobOutcome",
    "JobRecord",
    "JobState",
    "JournalCallbacks",
    "JournalError",
    "JournalState",
    "JournalStore",
    "JournalUnwritableError",
    "KeyPolicy",
    "LeaseLostError",
    "MissingSecretError",
    "ModelSpec",
    "NetworkError",
    "NotAVideoError",
    "NotFoundError",
    "NotifySink",
    "ParameterValidationError",
    "PathTemplateError",
    "PollContext",
    "PollingStrategy",
    "Problem",
    "Progress",
    "ProtocolError",
    "Provenance",
    "ProviderClient",
    "ProviderSpec",
    "PushHub",
    "RateLimitedError",
    "ReceiverServer",
    "RecordingError",
    "RequestRejectedError",
    "ResourceChangedError",
    "Result",
    "ResultExpiredError",
    "ResumeReport",
    "RetryPolicy",
    "Sandbox",
    "SandboxConfig",
    "ScaledClock",
    "ServerError",
    "Sink",
    "SinkConfig",
    "SinkContext",
    "SinkError",
    "SinkOutcome",
    "SinkWriter",
    "SizeMismatchError",
    "SourceError",
    "SpecError",
    "SpecRegistry",
    "SqliteJournal",
    "StatusChanged",
    "SubmitAttempt",
    "SubmitInterceptor",
    "SubmitOutcomeUnknownError",
    "Submitted",
    "SyncEngine",
    "SyncJob",
    "SystemClock",
    "Timeouts",
    "Timings",
    "UnknownModelError",
    "UnknownPluginError",
    "UnsupportedUrlError",
    "UsageError",
    "VirtualClock",
    "WanEngineError",
    "WebhookFailedError",
    "WebhookSink",
    "assert_cassette_keeps_contract",
    "check_cassette",
    "deliver",
    "deliver_job",
    "enqueue",
    "open_journal",
    "replay_engine",
    "running_in_thread",
    "sink_from_name",
]


def test_all_is_exactly_the_public_api() -> None:
    assert sorted(wan_engine.__all__) == PUBLIC
    assert len(set(wan_engine.__all__)) == len(wan_engine.__all__)


def test_every_public_name_resolves_and_is_in_dir() -> None:
    for name in PUBLIC:
        assert getattr(wan_engine, name) is not None, name
        assert name in dir(wan_engine)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        wan_engine.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")


def test_every_error_class_is_exported_and_under_the_one_root() -> None:
    from wan_engine import errors

    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert classes
    for cls in classes:
        assert issubclass(cls, wan_engine.WanEngineError), cls
        assert cls.__name__ in PUBLIC, cls
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} is missing from the tree in errors.py"


def test_importing_the_package_loads_no_engine_no_harness_no_sqlite() -> None:
    heavy = "{'aiohttp', 'vcr', 'yaml', 'sqlite3', 'jsonschema'}"
    code = (
        "import sys, wan_engine; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy} or m.startswith('wan_engine.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", loaded


def test_the_readme_and_examples_import_only_from_the_front_door() -> None:
    texts = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8")}
    texts |= {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in (ROOT / "examples").glob("*.py")}
    for where, text in texts.items():
        deep = re.findall(r"(?:from|import) (wan_engine\.[\w.]+)", text)
        assert deep == [], f"{where} imports {deep}: import from wan_engine itself"
