"""Every error the engine raises, as one tree users can catch at any level.

Errors carry the job id (when there is one) so a caller can resume or report
it, and are built only from data that cannot hold a credential: the key is
never passed to an error, so no error message can leak it.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs


@attrs.frozen
class Problem:
    """One located complaint: a JSON path and what is wrong there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class WanEngineError(Exception):
    """Base of everything the engine raises on purpose."""

    job_id: str | None = None


class SpecError(WanEngineError):
    """A spec file is unreadable or breaks the spec format; names the file and every path."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        self.file = file
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid spec {file}:\n{lines}")


class DuplicateSpecError(WanEngineError):
    def __init__(self, kind: str, spec_id: str, first: str, second: str) -> None:
        self.spec_id, self.files = spec_id, (first, second)
        super().__init__(f"{kind} {spec_id!r} is defined twice: in {first} and in {second}")


class UnknownModelError(WanEngineError, KeyError):
    def __init__(self, model: str, known: Sequence[str]) -> None:
        self.model = model
        super().__init__(f"unknown model {model!r}; known models: {', '.join(sorted(known)) or 'none'}")

    def __str__(self) -> str:
        return str(self.args[0])


class ParameterValidationError(WanEngineError, ValueError):
    """The parameters break the model's schema; raised before any network call."""

    def __init__(self, model: str, violations: Sequence[Problem]) -> None:
        self.model = model
        self.violations = list(violations)
        lines = "\n".join(f"  {v}" for v in self.violations)
        super().__init__(f"{len(self.violations)} invalid parameter(s) for {model}:\n{lines}")


class ApiError(WanEngineError):
    """The provider answered, and the answer was an error."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        job_id: str | None = None,
        provider_message: str | None = None,
    ) -> None:
        self.status = status
        self.job_id = job_id
        self.provider_message = provider_message
        super().__init__(message)


class AuthenticationError(ApiError):
    """401/403, or no key in the environment: retrying will not help."""


class NotFoundError(ApiError):
    pass


class RateLimitedError(ApiError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(ApiError):
    pass


class RequestRejectedError(ApiError):
    """A 4xx the spec's parameter schema did not foresee (e.g. the API drifted)."""


class ProtocolError(ApiError):
    """The response does not say what the spec says it must (malformed JSON, no id)."""


class NetworkError(WanEngineError):
    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        self.job_id = job_id
        super().__init__(message)


class SubmitOutcomeUnknownError(WanEngineError):
    """The submit may have created a (paid) job: it was sent and no usable answer came back.

    The engine never re-sends such a submit (that could pay twice); check the
    provider's dashboard before submitting again.
    """

    def __init__(self, model: str, reason: str, *, status: int | None = None) -> None:
        self.model, self.reason, self.status = model, reason, status
        super().__init__(
            f"submit of {model} may have created a job ({reason}); it was not re-sent to avoid paying twice"
        )


class JobFailedError(WanEngineError):
    def __init__(self, job_id: str, message: str, code: str | None = None) -> None:
        self.job_id, self.code, self.provider_message = job_id, code, message
        super().__init__(f"job {job_id} failed: {message}" + (f" ({code})" if code else ""))


class JobCancelledError(WanEngineError):
    def __init__(self, job_id: str, remote: bool) -> None:
        self.job_id, self.remote = job_id, remote
        where = "on the provider" if remote else "locally (the provider may still run it)"
        super().__init__(f"job {job_id} was cancelled {where}")


class DeadlineExceededError(WanEngineError):
    def __init__(self, job_id: str | None, deadline_s: float) -> None:
        self.job_id, self.deadline_s = job_id, deadline_s
        super().__init__(
            f"job {job_id} not finished within {deadline_s:g} s; it may still complete: resume it by id"
        )


class CredentialError(AuthenticationError):
    """The API key itself cannot be sent (e.g. it contains CR/LF): a configuration error, nothing was sent."""


class LeaseLostError(WanEngineError):
    """This worker no longer holds the job's lease (it stalled past it and another took the job over):
    its journal writes are refused, so it cannot overwrite what the new holder did or deliver again."""

    def __init__(self, key: str, owner: str) -> None:
        self.key, self.owner = key, owner
        super().__init__(f"job {key}: {owner} lost its lease to another worker; its write was refused")


class UnknownPluginError(WanEngineError, LookupError):
    """A strategy, sink or option name that no installed plugin knows: a bad input, found before any submit."""


class JournalUnwritableError(WanEngineError):
    """The provider created a job but the journal could not record its id (disk full, read-only file).

    The id is in this message, was printed on stderr and appended to a fallback file, so
    the paid job can still be followed (``wan-engine`` / ``Engine.job(model, id)``).
    """

    def __init__(self, provider_id: str, model: str, reason: str, fallback: str | None) -> None:
        self.provider_id, self.model, self.fallback = provider_id, model, fallback
        saved = f"saved to {fallback}" if fallback else "NOT saved anywhere else: copy it now"
        super().__init__(
            f"the provider created job {provider_id} ({model}) but the journal cannot be written ({reason}); "
            f"the id was {saved}; follow it with Engine.job({model!r}, {provider_id!r}).wait()"
        )
