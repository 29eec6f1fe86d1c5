"""wan-engine: asynchronous video-generation APIs, described by spec files, run by one engine."""

from wan_engine.errors import (
    ApiError,
    AuthenticationError,
    DeadlineExceededError,
    JobCancelledError,
    JobFailedError,
    NetworkError,
    NotFoundError,
    ParameterValidationError,
    Problem,
    ProtocolError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    SpecError,
    SubmitOutcomeUnknownError,
    WanEngineError,
)
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

__all__ = [
    "ApiError",
    "AuthenticationError",
    "DeadlineExceededError",
    "JobCancelledError",
    "JobFailedError",
    "JobState",
    "NetworkError",
    "NotFoundError",
    "ParameterValidationError",
    "Problem",
    "ProtocolError",
    "RateLimitedError",
    "RequestRejectedError",
    "ServerError",
    "SpecError",
    "SpecRegistry",
    "SubmitOutcomeUnknownError",
    "WanEngineError",
]
__version__ = "0.1.0"
