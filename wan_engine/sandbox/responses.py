"""Answers in each provider's own words, built from its spec alone.

Status documents start from the spec's status template and get the id,
status, video URL and error written at the spec's pointers; errors render the
spec's error template. No provider is named here: a new provider spec gets a
faithful sandbox for free.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import email.utils
import http
import json
from typing import Any, Literal

from aiohttp import web

from wan_engine.sandbox.faults import FaultKind, FaultRule
from wan_engine.sandbox.jobs import SandboxJob
from wan_engine.sandbox.media import CONTENT_TYPE
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.model import Pointers, ProviderSpec
from wan_engine.states import JobState

# The provider docs' example run: about 8.7 min cost 120000 credits, $0.06.
_CREDITS_PER_SECOND = 230
_USD_PER_CREDIT = 0.06 / 120_000


class Dropped(web.Response):
    """Returned after the connection was cut: nothing reaches the client, the log records no status."""


def first_pointer(pointers: Pointers) -> str | None:
    if pointers is None:
        return None
    return pointers if isinstance(pointers, str) else pointers[0]


_ABSENT = object()


def id_slot(provider: ProviderSpec, template: Any) -> str:
    """Where an answer built from ``template`` carries the job id: the first id pointer the template has a slot for.

    MiniMax's submit template has ``generation_id`` and its status template ``id``:
    one list of alternatives serves both answers, with no per-answer pointer.
    """
    pointers = [provider.id_pointer] if isinstance(provider.id_pointer, str) else list(provider.id_pointer or [])
    for pointer in pointers:
        if json_pointer.resolve(template, pointer, _ABSENT) is not _ABSENT:
            return pointer
    return provider.first_id_pointer


def error_code(status: int) -> str:
    """A provider-neutral code for a status, e.g. TooManyRequests."""
    return http.HTTPStatus(status).phrase.title().replace(" ", "").replace("-", "")


def _fill(template: Any, values: dict[str, str], status: int) -> Any:
    if isinstance(template, dict):
        return {key: _fill(value, values, status) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, values, status) for value in template]
    if template == "{status}":
        return status
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
    return template


def error_document(provider: ProviderSpec, status: int, message: str, *, path: str, request_id: str) -> Any:
    errors = provider.errors
    code = errors.codes.get(str(status)) or error_code(status)
    if errors.template is None:
        document: dict[str, Any] = {}
        for pointers, value in ((errors.message, message), (errors.code, code)):
            pointer = first_pointer(pointers)
            if pointer:
                json_pointer.assign(document, pointer, value)
        return document
    timestamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    values = {
        "message": message,
        "code": code,
        "status": str(status),
        "path": path,
        "request_id": request_id,
        "timestamp": timestamp,
    }
    return _fill(errors.template, values, status)


def _metadata_value(name: str, job: SandboxJob, media_size: int) -> Any:
    """Invented values for the metadata names the engine knows; None for any other name."""
    return {"content_type": CONTENT_TYPE, "file_size": media_size, **job_cost(job)}.get(name)


def job_cost(job: SandboxJob) -> dict[str, float | int]:
    """What the sandbox bills a job: the docs' example rate, by its simulated duration."""
    credits = round(job.duration_s * _CREDITS_PER_SECOND)
    return {"credits_used": credits, "usd_spent": round(credits * _USD_PER_CREDIT, 6)}


def _costs_on(provider: ProviderSpec, answer: Literal["submit", "status"]) -> bool:
    return provider.cost is not None and answer in provider.cost.answers


def cost_headers(job: SandboxJob, answer: Literal["submit", "status"]) -> dict[str, str]:
    """The cost headers the spec says this answer carries (e.g. x-aimlapi-credits-used)."""
    provider = job.model.provider
    if provider.cost is None or not _costs_on(provider, answer):
        return {}
    values = job_cost(job)
    return {header: str(values[name]) for name, header in provider.cost.headers.items() if name in values}


def _write_cost(document: dict[str, Any], job: SandboxJob) -> None:
    provider = job.model.provider
    assert provider.cost is not None
    values = job_cost(job)
    for name, pointers in provider.cost.body.items():
        location = first_pointer(pointers)
        if location and name in values:
            json_pointer.assign(document, location, values[name])


def status_word(provider: ProviderSpec, state: JobState) -> str:
    """The provider's word for a state. A provider with no word for failure whose result is a
    separate request (fal) reports a failed job as done; its result request then answers the error."""
    if (
        state is JobState.FAILED
        and provider.result_request is not None
        and JobState.FAILED not in provider.statuses.values()
    ):
        return provider.canonical_status(JobState.SUCCEEDED)
    return provider.canonical_status(state)


def status_document(job: SandboxJob, state: JobState, media_url: str, media_size: int) -> Any:
    """A status answer, in the shape the spec declares (its template, pointers and cost block)."""
    provider = job.model.provider
    template = copy.deepcopy(provider.status_template)
    document: dict[str, Any] = template if isinstance(template, dict) else {}
    json_pointer.assign(document, id_slot(provider, document), job.id)
    json_pointer.assign(document, provider.status_pointer, status_word(provider, state))
    result = provider.result
    cost_elsewhere = set(provider.cost.body) if provider.cost and not _costs_on(provider, "status") else set()
    # Where the result is a second request (fal), the status answer does not carry it.
    if state is JobState.SUCCEEDED and provider.result_request is None:
        url_pointer = first_pointer(result.video_url)
        if url_pointer:
            json_pointer.assign(document, url_pointer, media_url)
        for name, pointer in result.metadata.items():
            value = _metadata_value(name, job, media_size)
            if value is not None and name not in cost_elsewhere:
                _assign_if_room(document, pointer, value)
    if state is JobState.FAILED and job.failure is not None:
        for pointers, text in ((result.error_message, job.failure.message), (result.error_code, job.failure.code)):
            location = first_pointer(pointers)
            if location:
                json_pointer.assign(document, location, text)
    if _costs_on(provider, "status") and state.terminal:
        _write_cost(document, job)
    return document


def result_document(job: SandboxJob, media_url: str, media_size: int) -> Any:
    """The answer to a provider's separate result request (fal's response_url): the result alone."""
    result = job.model.provider.result
    document: dict[str, Any] = {}
    url_pointer = first_pointer(result.video_url)
    if url_pointer:
        json_pointer.assign(document, url_pointer, media_url)
    for name, pointer in result.metadata.items():
        value = _metadata_value(name, job, media_size)
        if value is not None:
            _assign_if_room(document, pointer, value)
    return document


def _assign_if_room(document: dict[str, Any], pointer: str, value: Any) -> None:
    """Write metadata where the answer's shape has room: a list of URLs has none for /video/file_size."""
    try:
        json_pointer.assign(document, pointer, value)
    except (ValueError, TypeError, IndexError):
        return


def submit_document(job: SandboxJob, state: JobState, media_url: str, media_size: int) -> Any:
    """The answer to a submit: the submit template when the spec has one (MiniMax's generation_id), with cost."""
    provider = job.model.provider
    if provider.submit_template is None:
        document = status_document(job, state, media_url, media_size)
    else:
        document = copy.deepcopy(provider.submit_template)
        json_pointer.assign(document, id_slot(provider, document), job.id)
        json_pointer.assign(document, provider.status_pointer, provider.canonical_status(state))
    if _costs_on(provider, "submit") and isinstance(document, dict):
        _write_cost(document, job)
    return document


def unknown_task_document(provider: ProviderSpec, job_id: str) -> Any:
    """What a provider that answers unknown ids with a status (not a 404) says about one."""
    template = copy.deepcopy(provider.status_template)
    document: dict[str, Any] = template if isinstance(template, dict) else {}
    json_pointer.assign(document, id_slot(provider, document), job_id)
    json_pointer.assign(document, provider.status_pointer, provider.unknown_task_status)
    return document


def cancel_document(provider: ProviderSpec, job_id: str, request_id: str) -> Any:
    """The spec's cancel answer, for providers whose cancel does not answer with a status document."""
    return _fill(provider.cancel_template, {"id": job_id, "request_id": request_id}, 200)


def retry_after(rule: FaultRule, wall_now: float) -> str:
    if rule.retry_after_date:
        return email.utils.formatdate(wall_now + rule.retry_after_s, usegmt=True)
    return str(rule.retry_after_s)


def fault_status(rule: FaultRule) -> int | None:
    """The HTTP status an error fault answers with; None for faults that are not error answers."""
    if rule.kind is FaultKind.RATE_LIMIT:
        return 429
    if rule.kind is FaultKind.SERVER_ERROR:
        return rule.status
    return None


def truncated_json(document: Any) -> web.Response:
    """A 200 whose body claims to be JSON and stops halfway, as a broken proxy would send it."""
    text = json.dumps(document)
    return web.Response(status=200, text=text[: len(text) // 2], content_type="application/json")


async def hang_up_when_they_do(request: web.Request) -> Dropped:
    """Never answer: wait until the client gives up (closes the connection), then drop our side too."""
    # aiohttp offers nothing to await for a peer closing (handler cancellation is off): poll it.
    while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return drop(request)


def drop(request: web.Request) -> Dropped:
    """Cut the connection without an answer; the client sees it closed."""
    if request.transport is not None:
        request.transport.abort()
    return Dropped()
