"""wan-engine: asynchronous video-generation APIs, described by spec files, run by one engine.

Everything an app or a plugin author needs is importable from here (the way
httpx exports its public surface from one package); the subpackages are the
layers behind it (DESIGN: cli -> pytest_plugin -> cassettes | journal ->
delivery -> sinks -> client | sandbox -> spec -> base), and their module paths
may move. Names load on first use (PEP 562), so ``import wan_engine`` is cheap
and needs no optional extra; the cassette names need
``pip install 'wan-engine[cassettes]'``, and ``enqueue`` (jobs as Temporal
workflows) ``pip install 'wan-engine[temporal]'``.

Words used the same way throughout: a *Report* is what one run over many
things returns (``ResumeReport``, ``DeliveryReport``), an *Outcome* is what
became of one of them (``JobOutcome``, ``SinkOutcome``), a *Record* is what
the journal stores (``JobRecord``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Engine": "wan_engine.client.engine",
    "SyncEngine": "wan_engine.client.sync",
    "SyncJob": "wan_engine.client.sync",
    "Job": "wan_engine.client.job",
    "Result": "wan_engine.client.result",
    "Timings": "wan_engine.client.result",
    "Event": "wan_engine.client.events",
    "Submitted": "wan_engine.client.events",
    "StatusChanged": "wan_engine.client.events",
    "Progress": "wan_engine.client.events",
    "Completed": "wan_engine.client.events",
    "Failed": "wan_engine.client.events",
    "CostReported": "wan_engine.client.events",
    "Budget": "wan_engine.client.budget",
    "BatchItem": "wan_engine.client.batch",
    "BatchOutcome": "wan_engine.client.batch",
    "BatchProgress": "wan_engine.client.batch",
    "Hop": "wan_engine.client.submitter",
    "KeyPolicy": "wan_engine.client.idempotency",
    "Estimate": "wan_engine.spec.pricing",
    "PollingStrategy": "wan_engine.client.polling",
    "PollContext": "wan_engine.client.polling",
    "FixedInterval": "wan_engine.client.polling",
    "ExponentialBackoff": "wan_engine.client.polling",
    "Adaptive": "wan_engine.client.polling",
    "SubmitInterceptor": "wan_engine.client.hooks",
    "SubmitAttempt": "wan_engine.client.hooks",
    "ProviderClient": "wan_engine.client.provider_client",
    "RetryPolicy": "wan_engine.client.provider_client",
    "Timeouts": "wan_engine.client.provider_client",
    "Clock": "wan_engine.clock",
    "SystemClock": "wan_engine.clock",
    "VirtualClock": "wan_engine.clock",
    "ScaledClock": "wan_engine.clock",
    "PushHub": "wan_engine.client.push",
    "CallbackReceiver": "wan_engine.receiver.app",
    "ReceiverServer": "wan_engine.receiver.app",
    "JournalCallbacks": "wan_engine.receiver.journal_bridge",
    "JobState": "wan_engine.states",
    "SpecRegistry": "wan_engine.spec.registry",
    "ModelSpec": "wan_engine.spec.model",
    "ProviderSpec": "wan_engine.spec.model",
    "DataSink": "wan_engine.sinks.protocols",
    "NotifySink": "wan_engine.sinks.protocols",
    "Sink": "wan_engine.sinks.protocols",
    "SinkWriter": "wan_engine.sinks.protocols",
    "SinkContext": "wan_engine.sinks.protocols",
    "DeliverySummary": "wan_engine.sinks.protocols",
    "Provenance": "wan_engine.sinks.protocols",
    "sink_from_name": "wan_engine.sinks.protocols",
    "SinkConfig": "wan_engine.sinks.config",
    "FileSink": "wan_engine.sinks.file",
    "WebhookSink": "wan_engine.sinks.webhook",
    "deliver": "wan_engine.delivery.tee",
    "deliver_job": "wan_engine.delivery.tee",
    "DeliveryReport": "wan_engine.delivery.tee",
    "SinkOutcome": "wan_engine.delivery.tee",
    "DownloadPolicy": "wan_engine.delivery.download",
    "open_journal": "wan_engine.journal",
    "JournalStore": "wan_engine.journal",
    "SqliteJournal": "wan_engine.journal",
    "JobRecord": "wan_engine.journal",
    "JournalState": "wan_engine.journal",
    "DeliveryState": "wan_engine.journal",
    "DurableEngine": "wan_engine.journal.durable",
    "ResumeReport": "wan_engine.journal.resume",
    "JobOutcome": "wan_engine.journal.resume",
    "Sandbox": "wan_engine.sandbox",
    "SandboxConfig": "wan_engine.sandbox",
    "FaultRule": "wan_engine.sandbox",
    "FaultPlan": "wan_engine.sandbox",
    "running_in_thread": "wan_engine.sandbox",
    "replay_engine": "wan_engine.cassettes",
    "enqueue": "wan_engine.temporal",
    "CassetteReplay": "wan_engine.cassettes",
    "check_cassette": "wan_engine.cassettes",
    "assert_cassette_keeps_contract": "wan_engine.cassettes",
    "Problem": "wan_engine.errors",
    "WanEngineError": "wan_engine.errors",
    "SpecError": "wan_engine.errors",
    "DuplicateSpecError": "wan_engine.errors",
    "InvalidSpecsError": "wan_engine.errors",
    "UsageError": "wan_engine.errors",
    "UnknownPluginError": "wan_engine.errors",
    "MissingSecretError": "wan_engine.errors",
    "PathTemplateError": "wan_engine.errors",
    "UnknownModelError": "wan_engine.errors",
    "ParameterValidationError": "wan_engine.errors",
    "ApiError": "wan_engine.errors",
    "AuthenticationError": "wan_engine.errors",
    "NotFoundError": "wan_engine.errors",
    "RateLimitedError": "wan_engine.errors",
    "ServerError": "wan_engine.errors",
    "RequestRejectedError": "wan_engine.errors",
    "ProtocolError": "wan_engine.errors",
    "NetworkError": "wan_engine.errors",
    "SubmitOutcomeUnknownError": "wan_engine.errors",
    "BudgetExceededError": "wan_engine.errors",
    "IdempotencyKeyMismatchError": "wan_engine.errors",
    "JobFailedError": "wan_engine.errors",
    "JobCancelledError": "wan_engine.errors",
    "DeadlineExceededError": "wan_engine.errors",
    "DownloadError": "wan_engine.errors",
    "UnsupportedUrlError": "wan_engine.errors",
    "ResultExpiredError": "wan_engine.errors",
    "SizeMismatchError": "wan_engine.errors",
    "NotAVideoError": "wan_engine.errors",
    "ResourceChangedError": "wan_engine.errors",
    "DeliveryError": "wan_engine.errors",
    "SinkError": "wan_engine.errors",
    "WebhookFailedError": "wan_engine.errors",
    "JournalError": "wan_engine.errors",
    "CassetteError": "wan_engine.errors",
    "CassetteMismatchError": "wan_engine.errors",
    "CassetteFormatError": "wan_engine.errors",
    "RecordingError": "wan_engine.errors",
    "SourceError": "wan_engine.errors",
    "CredentialError": "wan_engine.errors",
    "LeaseLostError": "wan_engine.errors",
    "JournalUnwritableError": "wan_engine.errors",
    "CassetteRequestMismatchError": "wan_engine.errors",
}
"""Public name -> the module that defines it."""

__all__ = [
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

if TYPE_CHECKING:
    from wan_engine.cassettes import CassetteReplay, assert_cassette_keeps_contract, check_cassette, replay_engine
    from wan_engine.client.batch import BatchItem, BatchOutcome, BatchProgress
    from wan_engine.client.budget import Budget
    from wan_engine.client.engine import Engine
    from wan_engine.client.events import Completed, CostReported, Event, Failed, Progress, StatusChanged, Submitted
    from wan_engine.client.hooks import SubmitAttempt, SubmitInterceptor
    from wan_engine.client.idempotency import KeyPolicy
    from wan_engine.client.job import Job
    from wan_engine.client.polling import Adaptive, ExponentialBackoff, FixedInterval, PollContext, PollingStrategy
    from wan_engine.client.provider_client import ProviderClient, RetryPolicy, Timeouts
    from wan_engine.client.push import PushHub
    from wan_engine.client.result import Result, Timings
    from wan_engine.client.submitter import Hop
    from wan_engine.client.sync import SyncEngine, SyncJob
    from wan_engine.clock import Clock, ScaledClock, SystemClock, VirtualClock
    from wan_engine.delivery.download import DownloadPolicy
    from wan_engine.delivery.tee import DeliveryReport, SinkOutcome, deliver, deliver_job
    from wan_engine.errors import (
        ApiError,
        AuthenticationError,
        BudgetExceededError,
        CassetteError,
        CassetteFormatError,
        CassetteMismatchError,
        CassetteRequestMismatchError,
        CredentialError,
        DeadlineExceededError,
        DeliveryError,
        DownloadError,
        DuplicateSpecError,
        IdempotencyKeyMismatchError,
        InvalidSpecsError,
        JobCancelledError,
        JobFailedError,
        JournalError,
        JournalUnwritableError,
        LeaseLostError,
        MissingSecretError,
        NetworkError,
        NotAVideoError,
        NotFoundError,
        ParameterValidationError,
        PathTemplateError,
        Problem,
        ProtocolError,
        RateLimitedError,
        RecordingError,
        RequestRejectedError,
        ResourceChangedError,
        ResultExpiredError,
        ServerError,
        SinkError,
        SizeMismatchError,
        SourceError,
        SpecError,
        SubmitOutcomeUnknownError,
        UnknownModelError,
        UnknownPluginError,
        UnsupportedUrlError,
        UsageError,
        WanEngineError,
        WebhookFailedError,
    )
    from wan_engine.journal import DeliveryState, JobRecord, JournalState, JournalStore, SqliteJournal, open_journal
    from wan_engine.journal.durable import DurableEngine
    from wan_engine.journal.resume import JobOutcome, ResumeReport
    from wan_engine.receiver.app import CallbackReceiver, ReceiverServer
    from wan_engine.receiver.journal_bridge import JournalCallbacks
    from wan_engine.sandbox import FaultPlan, FaultRule, Sandbox, SandboxConfig, running_in_thread
    from wan_engine.sinks.config import SinkConfig
    from wan_engine.sinks.file import FileSink
    from wan_engine.sinks.protocols import (
        DataSink,
        DeliverySummary,
        NotifySink,
        Provenance,
        Sink,
        SinkContext,
        SinkWriter,
        sink_from_name,
    )
    from wan_engine.sinks.webhook import WebhookSink
    from wan_engine.spec.model import ModelSpec, ProviderSpec
    from wan_engine.spec.pricing import Estimate
    from wan_engine.spec.registry import SpecRegistry
    from wan_engine.states import JobState
    from wan_engine.temporal import enqueue


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wan_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
