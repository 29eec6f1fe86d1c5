"""A local stand-in for the providers' APIs, built from the specs alone, with fault injection.

Tests and offline runs point the engine at it instead of the real (paid)
APIs; its counters say what the engine really did.
"""

from wan_engine.sandbox.config import SandboxConfig
from wan_engine.sandbox.faults import FaultKind, FaultPlan, FaultRule
from wan_engine.sandbox.jobs import SandboxJob
from wan_engine.sandbox.server import NO_ANSWER, LoggedRequest, Sandbox, running_in_thread

__all__ = [
    "NO_ANSWER",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "LoggedRequest",
    "Sandbox",
    "SandboxConfig",
    "SandboxJob",
    "running_in_thread",
]
