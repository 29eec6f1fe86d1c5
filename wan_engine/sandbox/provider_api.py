"""One provider's API (submit, status, cancel), served from its spec.

Everything a route needs to know (paths, where the job id travels, how the
body names the model, the auth scheme, the answer's shape) is read from the
provider and model specs, so this module never names a provider.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from wan_engine.errors import ParameterValidationError
from wan_engine.sandbox.backend import Backend
from wan_engine.sandbox.callbacks import take_callback_url
from wan_engine.sandbox.faults import FaultKind, Fired, RequestKind
from wan_engine.sandbox.jobs import SandboxJob
from wan_engine.sandbox.responses import cancel_document, cost_headers, drop, truncated_json, unknown_task_document
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.body import extract_parameters, variable_pointers
from wan_engine.spec.model import Endpoint, ModelSpec, ProviderSpec
from wan_engine.spec.params import prepare
from wan_engine.states import JobState

ID = "{id}"
MODEL = "{model}"


def route_path(template: str) -> str:
    """An aiohttp route for a spec path: model names (and a model's own path variables, fal's {app})
    hold slashes, so every variable but {id} spans segments."""
    return re.sub(r"\{(?!id\})(\w+)\}", r"{\1:.+}", template)


def _query_key(endpoint: Endpoint) -> str | None:
    """The query parameter carrying the job id, when the path does not."""
    return next((key for key, value in endpoint.query.items() if value == ID), None)


class ProviderApi:
    def __init__(self, provider: ProviderSpec, models: list[ModelSpec], backend: Backend) -> None:
        self.provider = provider
        self.models = models
        self.backend = backend

    def application(self) -> web.Application:
        """The provider's routes, to be mounted under its id."""
        app = web.Application()
        endpoints = [(self.provider.submit, self.submit), (self.provider.status, self.status)]
        if self.provider.result_request is not None:
            endpoints.append((self.provider.result_request, self.result))
        if self.provider.cancel is not None:
            endpoints.append((self.provider.cancel, self.cancel))
        for endpoint, handler in endpoints:
            app.router.add_route(endpoint.method, route_path(endpoint.path), handler)
        return app

    # -- helpers ---------------------------------------------------------------------------

    def _error(self, request: web.Request, status: int, message: str) -> web.Response:
        return self.backend.error(request, self.provider, status, message)

    def _answer(
        self, request: web.Request, document: Any, fired: Fired, headers: dict[str, str] | None = None
    ) -> web.StreamResponse:
        """The normal answer, unless a fault that strikes after the work is done says otherwise."""
        if fired.is_(FaultKind.RESET_AFTER):
            return drop(request)
        if fired.is_(FaultKind.MALFORMED_JSON):
            return truncated_json(document)
        return web.json_response(document, headers=self.backend.echo_headers(request, self.provider, headers or {}))

    def _auth_problem(self, request: web.Request) -> str | None:
        auth = self.provider.auth
        if auth.scheme == "none":
            return None
        sent = request.headers.get(auth.header, "").strip()
        if auth.scheme == "bearer":
            scheme, _, sent = sent.partition(" ")
            sent = sent.strip() if scheme.lower() == "bearer" else ""
        elif auth.prefix:
            sent = sent.removeprefix(auth.prefix.strip()).strip() if sent.startswith(auth.prefix.strip()) else ""
        if not sent:
            how = f"'{auth.header}: Bearer KEY'" if auth.scheme == "bearer" else f"the {auth.header} header"
            return f"Missing API key: send it in {how}"
        expected = self.backend.config.api_key
        if expected is not None and sent != expected:
            return "Invalid API key"
        return None

    def _job_id(self, request: web.Request, endpoint: Endpoint) -> str | None:
        if ID in endpoint.path:
            return request.match_info.get("id")
        key = _query_key(endpoint)
        return request.query.get(key) if key else None

    def _job(self, job_id: str | None) -> SandboxJob | None:
        job = self.backend.book.jobs.get(job_id or "")
        return job if job is not None and job.model.provider.id == self.provider.id else None

    def _model_named(self, body: Any, path_model: str | None) -> tuple[ModelSpec | None, str | None]:
        """The model a submit asks for (by body or path, as each model's template says), and the name asked."""
        asked: str | None = path_model
        for spec in self.models:
            names = [json_pointer.resolve(body, p) for p in variable_pointers(spec.submit_endpoint.body, "model")]
            if path_model is not None:
                names.append(path_model)
            if names and all(name == spec.provider_model for name in names):
                return spec, spec.provider_model
            if not names and len(self.models) == 1:
                return spec, spec.provider_model
            asked = asked or next((str(n) for n in names if n is not None), None)
        return None, asked

    @staticmethod
    def _header_problems(spec: ModelSpec, request: web.Request) -> list[str]:
        """Fixed headers the spec sends on submit (e.g. an async switch) that are missing or wrong."""
        problems = []
        for name, template in spec.submit_endpoint.headers.items():
            expected = template.replace(MODEL, spec.provider_model)
            if ID not in expected and request.headers.get(name) != expected:
                problems.append(f"header {name} must be {expected!r}")
        return problems

    # -- routes ----------------------------------------------------------------------------

    async def submit(self, request: web.Request) -> web.StreamResponse:
        backend = self.backend
        backend.book.submit_requests += 1
        text = await request.text()
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = None
        spec, asked = self._model_named(body, request.match_info.get("model")) if body is not None else (None, None)
        fired, early = await backend.before(request, "submit", spec.id if spec else None, self.provider)
        if early is not None:
            return early
        problem = self._auth_problem(request)
        if problem:
            return self._error(request, 401, problem)
        if body is None:
            return self._error(request, 400, "Malformed JSON body")
        if spec is None:
            status = 404 if MODEL in self.provider.submit.path else 400
            return self._error(request, status, f"Unknown model {asked!r}" if asked else "No model given")
        header_problems = self._header_problems(spec, request)
        if header_problems:
            return self._error(request, 400, "; ".join(header_problems))
        callbacks = self.provider.callbacks
        callback_url = take_callback_url(callbacks, body, request.query) if callbacks is not None else None
        params = extract_parameters(spec.submit_endpoint.body, body)
        try:
            prepare(spec, params)
        except ParameterValidationError as exc:
            details = "; ".join(str(v) for v in exc.violations)
            return self._error(request, 400, f"Body validation error! {details}")
        job = backend.book.create(spec, params, backend.duration_for(spec), fired.job_failure)
        if callback_url is not None:
            media_size = backend.media.source_for(job.id).size
            backend.callbacks.expect(job, callback_url, backend.media_url(request, job), media_size)
        await self._hold_if_asked(request, job)
        return self._answer(request, backend.submit_document(request, job), fired, cost_headers(job, "submit"))

    async def _hold_if_asked(self, request: web.Request, job: SandboxJob) -> None:
        """``Prefer: wait`` (the spec's ``sync_wait``): answer once the job has ended, or after ``max_s``."""
        hold = self.provider.sync_wait
        if hold is None or not request.headers.get(hold.header, "").startswith(hold.value):
            return
        until = self.backend.now() + (hold.max_s if hold.max_s is not None else 60.0)
        # The job ages on the sandbox's (injected) clock: nothing to await but its passing.
        while not job.state_at(self.backend.now()).terminal and self.backend.now() < until:  # noqa: ASYNC110
            await asyncio.sleep(0.005)

    async def _job_request(
        self, request: web.Request, kind: RequestKind, endpoint: Endpoint
    ) -> tuple[SandboxJob | None, Fired, web.StreamResponse | None]:
        """What status reads and cancels share: the job named, the faults that fire, the key check."""
        job = self._job(self._job_id(request, endpoint))
        fired, early = await self.backend.before(request, kind, job.model_id if job else None, self.provider)
        if early is None and (problem := self._auth_problem(request)):
            early = self._error(request, 401, problem)
        return job, fired, early

    async def status(self, request: web.Request) -> web.StreamResponse:
        job, fired, early = await self._job_request(request, "status", self.provider.status)
        if early is not None:
            return early
        if job is None:
            job_id = self._job_id(request, self.provider.status)
            if self.provider.unknown_task_status is not None and job_id:
                return self._answer(request, unknown_task_document(self.provider, job_id), fired)
            return self._error(request, 404, "Generation not found")
        state = job.state_at(self.backend.now())
        headers = cost_headers(job, "status") if state.terminal else {}
        return self._answer(request, self.backend.status_document(request, job), fired, headers)

    async def result(self, request: web.Request) -> web.StreamResponse:
        """A provider's separate result request (fal's response_url): the result once the job is done."""
        assert self.provider.result_request is not None
        job, fired, early = await self._job_request(request, "status", self.provider.result_request)
        if early is not None:
            return early
        if job is None:
            return self._error(request, 404, "Request not found")
        state = job.state_at(self.backend.now())
        if state is JobState.FAILED and job.failure is not None:
            return self._error(request, 422, job.failure.message)
        if state is not JobState.SUCCEEDED:
            return self._error(request, 400, f"Request is {self.provider.canonical_status(state)}, not completed")
        return self._answer(request, self.backend.result_document(request, job), fired)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        assert self.provider.cancel is not None  # the route exists only when the spec has the endpoint
        job, fired, early = await self._job_request(request, "cancel", self.provider.cancel)
        if early is not None:
            return early
        if job is None:
            return self._error(request, 404, "Generation not found")
        state = job.state_at(self.backend.now())
        if not self.provider.can_cancel_in(state):
            return self._error(
                request, 409, f"Generation is {self.provider.canonical_status(state)} and cannot be cancelled"
            )
        job.cancelled_at = self.backend.now()
        if self.provider.cancel_template is not None:
            request_id = self.backend.request_id(request, self.provider)
            return self._answer(request, cancel_document(self.provider, job.id, request_id), fired)
        return self._answer(request, self.backend.status_document(request, job), fired)
