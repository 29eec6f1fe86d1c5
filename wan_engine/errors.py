"""Every error wan-engine raises, as one tree users can catch at any level.

Errors carry the job id (when there is one) so a caller can resume or report
it, and are built only from data that cannot hold a credential: the key is
never passed to an error, and URLs pass through :func:`scrub_url` first.
No library exception (sqlite3, json, RecursionError from a ``$ref`` cycle,
LookupError from a plugin name) escapes the public API untranslated::

    WanEngineError
    ├── SpecError                     a spec file breaks the format: the file and every JSON path
    │   ├── DuplicateSpecError        two files define one id
    │   └── InvalidSpecsError         several bad files, all reported at once
    ├── UsageError (ValueError)       asked for something that cannot be done as asked
    │   ├── UnknownModelError (KeyError)
    │   ├── UnknownPluginError (LookupError)   a strategy, sink or plugin name nothing provides
    │   ├── ParameterValidationError  the parameters break the model's schema (before any request)
    │   ├── MissingSecretError (LookupError)   an environment variable holding a secret is not set
    │   └── PathTemplateError         a sink path template would leave its root
    ├── ApiError                      the provider answered, and the answer was an error
    │   ├── AuthenticationError       401/403 or no key: retrying will not help
    │   │   └── CredentialError       the key itself cannot be sent (CR/LF): nothing was sent
    │   ├── NotFoundError
    │   ├── RateLimitedError
    │   ├── ServerError
    │   ├── RequestRejectedError      a 4xx the spec did not foresee
    │   └── ProtocolError             the answer does not say what the spec says it must
    ├── NetworkError                  no answer at all (refused, reset, timed out)
    ├── SubmitOutcomeUnknownError     a submit may have created a paid job: never re-sent
    ├── BudgetExceededError           a submit's estimate would cross the budget: nothing was sent
    ├── IdempotencyKeyMismatchError   a key reused with other parameters: names both requests
    ├── JobFailedError / JobCancelledError / DeadlineExceededError
    ├── DownloadError                 the result could not be fetched
    │   ├── UnsupportedUrlError (ValueError)
    │   ├── ResultExpiredError
    │   ├── SizeMismatchError
    │   ├── NotAVideoError            an HTML page or a JSON document where a video should be
    │   └── ResourceChangedError      the file changed between resumed attempts
    ├── DeliveryError                 nothing was delivered; every data sink rolled back
    ├── SinkError                     one sink could not do its part
    │   └── WebhookFailedError
    ├── JournalError                  the journal cannot be opened, read or written
    │   ├── LeaseLostError            a worker that lost its lease may no longer write (fencing)
    │   └── JournalUnwritableError    the provider's id could not be journaled: the message carries it
    └── CassetteError                 the recorded-session harness
        ├── CassetteMismatchError     replay was asked for a request the cassette does not hold
        │   └── CassetteRequestMismatchError  a submit for another model than the one recorded
        ├── CassetteFormatError (ValueError)
        ├── RecordingError
        └── SourceError (ValueError)  a recording would claim a source it cannot honestly claim
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import attrs

from wan_engine.redaction import scrub_url


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


class DuplicateSpecError(SpecError):
    def __init__(self, kind: str, spec_id: str, first: str, second: str) -> None:
        self.spec_id, self.files = spec_id, (first, second)
        self.file, self.problems = second, [Problem("$.id", f"{kind} {spec_id!r} is already defined in {first}")]
        WanEngineError.__init__(self, f"{kind} {spec_id!r} is defined twice: in {first} and in {second}")


class InvalidSpecsError(SpecError):
    """Every bad file found while loading, not just the first."""

    def __init__(self, errors: Sequence[WanEngineError]) -> None:
        self.errors = list(errors)
        self.file = ", ".join(str(getattr(e, "file", "?")) for e in self.errors)
        self.problems = [p for e in self.errors for p in getattr(e, "problems", [])]
        WanEngineError.__init__(self, "\n".join(str(e) for e in self.errors))


class UsageError(WanEngineError, ValueError):
    """What was asked cannot be done as asked (an option, a combination, a name): fix the call."""


class UnknownPluginError(UsageError, LookupError):
    """No installed plugin of that kind has that name; the message lists the ones that exist."""

    def __init__(
        self, kind: str, name: str, known: Sequence[str], *, failure: str | None = None, message: str | None = None
    ) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        if message is None and failure is not None:
            message = f"{kind} plugin {name!r} failed to load: {failure}"
        elif message is None:
            message = f"no {kind} plugin named {name!r}; available: {', '.join(self.known) or 'none'}"
        super().__init__(message)


class MissingSecretError(UsageError, LookupError):
    """An environment variable that holds a secret (a key, a signing secret) is not set; the message names it."""


class PathTemplateError(UsageError):
    """The template, or the path it renders to, would leave the root."""


class UnknownModelError(UsageError, KeyError):
    def __init__(self, model: str, known: Sequence[str], *, left_out: int = 0) -> None:
        self.model = model
        if not known:
            hint = "no models are installed"
        elif len(known) <= 12:
            hint = f"known models: {', '.join(sorted(known))}"
        else:  # a long list helps nobody: the closest names, and where the rest are
            close = difflib.get_close_matches(model, known, n=5, cutoff=0.4)
            guess = f"did you mean {', '.join(close)}? " if close else ""
            hint = f"{guess}`wan-engine models` lists all {len(known)}"
        if left_out:
            hint += f"; {left_out} spec file(s) were left out as invalid (see the warnings)"
        super().__init__(f"unknown model {model!r}; {hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class ParameterValidationError(UsageError):
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


class BudgetExceededError(WanEngineError):
    """A submit was refused before anything was sent: its estimate would cross the budget (or it has none).

    ``spent_usd`` counts jobs whose outcome is unknown as billed, at their estimate.
    """

    def __init__(self, model: str, limit_usd: float, spent_usd: float, estimate_usd: float | None, basis: str) -> None:
        self.model, self.limit_usd, self.spent_usd, self.estimate_usd = model, limit_usd, spent_usd, estimate_usd
        if estimate_usd is None:
            message = (
                f"budget ${limit_usd:g}: {model} has no price to estimate ({basis}), so it was not sent; "
                "add a pricing block to its spec or allow unpriced models"
            )
        else:
            message = (
                f"budget ${limit_usd:g}: {model} is estimated at ${estimate_usd:g} ({basis}) and ${spent_usd:g} is "
                f"spent or possibly billed, which would make ${spent_usd + estimate_usd:g}; nothing was sent "
                "(raise the budget, or ask for a shorter or smaller video)"
            )
        super().__init__(message)


class IdempotencyKeyMismatchError(WanEngineError):
    """An idempotency key already names a submit with other parameters; nothing was sent.

    The message names both requests (the earlier model and job, and the parameters that differ).
    """

    def __init__(self, key: str, earlier: str, differences: str) -> None:
        self.key = key
        super().__init__(
            f"idempotency key {key!r} was used for {earlier}; this submit differs ({differences}): "
            "use a new key for a different request"
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


class DownloadError(WanEngineError):
    """The result could not be downloaded; the message names the URL without its query (signed secrets)."""

    def __init__(self, message: str, *, url: str, job_id: str | None = None) -> None:
        self.url = scrub_url(url)
        self.job_id = job_id
        super().__init__(f"{message} ({self.url})")


class UnsupportedUrlError(DownloadError, ValueError):
    """Only http(s) result URLs are followed: ``file://`` or ``ftp://`` from a response is refused."""


class ResultExpiredError(DownloadError):
    """The result URL answered 403/404/410: it has expired (or never was); fetch a fresh one from the job."""

    def __init__(self, status: int, *, url: str, job_id: str | None = None) -> None:
        self.status = status
        super().__init__(f"the result URL answered {status}: it has expired", url=url, job_id=job_id)


class SizeMismatchError(DownloadError):
    """The body was not as long as the server said it would be."""


class NotAVideoError(DownloadError):
    """The body is not the declared container (an HTML error page or a JSON document served with a 200)."""


class ResourceChangedError(DownloadError):
    """The resource changed between attempts (ETag/Last-Modified/prefix) and the consumer cannot start over."""


class DeliveryError(WanEngineError):
    """Nothing was delivered: the download or a data sink failed, and every data sink was rolled back."""

    def __init__(self, message: str, *, job_id: str | None, sink: str | None = None) -> None:
        self.job_id = job_id
        self.sink = sink
        super().__init__(message)


class SinkError(WanEngineError):
    """A sink could not do its part; names the sink, never its credentials."""

    def __init__(self, sink: str, message: str) -> None:
        self.sink = sink
        super().__init__(f"sink {sink!r}: {message}")


class WebhookFailedError(SinkError):
    """Every attempt failed; the last reason is kept (status or network error), the secret never is."""


class JournalError(WanEngineError):
    """The journal cannot be used: unreadable, corrupt, read-only, a newer schema, or an unknown job."""


class CassetteError(WanEngineError):
    """Something in the recorded-session harness (record, replay, contract check)."""


class CassetteMismatchError(CassetteError):
    """Replay asked for a request the cassette does not hold (or holds no unplayed answer to)."""

    def __init__(self, method: str, url: str, cassette: str, reason: str | None = None) -> None:
        self.method, self.url, self.cassette, self.reason = method, url, cassette, reason
        why = {
            "already_played": "every recorded answer to it was already played: the engine asked more often "
            "than the recorded session did",
            "cassette_not_found": "the cassette file does not exist",
        }.get(reason or "", "no recorded request matches it")
        super().__init__(f"{method} {url} is not in cassette {cassette} ({why})")


class CassetteFormatError(CassetteError, ValueError):
    """A cassette file is not in the format this version reads."""


class RecordingError(CassetteError):
    """A recording could not be made (or would not be honest): nothing was written."""


class SourceError(CassetteError, ValueError):
    """A recording would be labelled with a source it cannot honestly claim."""


class CredentialError(AuthenticationError):
    """The API key itself cannot be sent (e.g. it contains CR/LF): a configuration error, nothing was sent."""


class LeaseLostError(JournalError):
    """This worker no longer holds the job's lease (it stalled past it and another took the job over):
    its journal writes are refused, so it cannot overwrite what the new holder did or deliver again."""

    def __init__(self, key: str, owner: str) -> None:
        self.key, self.owner = key, owner
        super().__init__(f"job {key}: {owner} lost its lease to another worker; its write was refused")


class JournalUnwritableError(JournalError):
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


class CassetteRequestMismatchError(CassetteMismatchError):
    """Replay was asked to submit a different request from the one the cassette recorded (another model, say)."""

    def __init__(self, method: str, url: str, cassette: str, path: str, detail: str) -> None:
        super().__init__(method, url, cassette)
        self.path = path
        self.args = (f"{method} {url} does not match cassette {cassette}: {path}: {detail}",)

    def __str__(self) -> str:
        return str(self.args[0])
