"""A handle on one provider job: its id is known from the start, so it can be stored and resumed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from wan_engine.client.events import Completed, CostReported, Event, Failed, Progress, StatusChanged
from wan_engine.client.polling import (
    LearnsDurations,
    PollContext,
    PollingStrategy,
    bounded_delay,
)
from wan_engine.client.push import Callback, Mailbox, SafetyNet, job_mailbox, rank, sleep_or_wake
from wan_engine.client.result import Result, Timings, metadata, video_urls
from wan_engine.client.retry_after import parse_retry_after
from wan_engine.errors import (
    DeadlineExceededError,
    JobCancelledError,
    JobFailedError,
    ProtocolError,
    RequestRejectedError,
)
from wan_engine.spec import pointer as json_pointer
from wan_engine.spec.cost import read_cost, usd_figure
from wan_engine.spec.model import ModelSpec, ResultLocations
from wan_engine.states import JobState

if TYPE_CHECKING:
    from wan_engine.client.provider_client import ProviderClient
    from wan_engine.clock import Clock


class JobHost(Protocol):
    """What a job needs of the engine that made it: the engine satisfies this without job.py importing it."""

    @property
    def clock(self) -> Clock: ...

    @property
    def client(self) -> ProviderClient: ...

    def strategy_for(self, strategy: PollingStrategy | str | None) -> PollingStrategy: ...

log = logging.getLogger("wan_engine")


class Job:
    def __init__(
        self,
        engine: JobHost,
        spec: ModelSpec,
        job_id: str,
        *,
        params: dict[str, Any] | None = None,
        submitted_at: float | None = None,
        submitted_wall: datetime | None = None,
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.id = job_id
        self.params = params
        self.submitted_at = submitted_at
        self.submitted_wall = submitted_wall
        self.state: JobState | None = None
        self.provider_status: Any = None
        self.polls = 0
        self.last_response: Any = None
        self._server_hint_s: float | None = None
        self._history: list[Event] = []
        self._subscribers: list[asyncio.Queue[Event]] = []
        self._callbacks: list[Callable[[Event], object]] = []
        self._waiter: asyncio.Task[Result] | None = None
        self._outcome: Result | BaseException | None = None
        self._result_document: Any = None
        self._result_where: ResultLocations | None = None
        self._failure: tuple[str, str | None] | None = None
        """A failure learnt from a separate result request, not from a status document."""
        self._last_read_at: float | None = None
        self.callbacks_applied = 0
        self._strategy: PollingStrategy | None = None
        self._unfinished_at: float | None = None
        self._submission_known = submitted_at is not None
        """When a read last saw the job unfinished (clock seconds): a finished job took longer than that."""
        self.idempotent_replay = False
        """True when ``submit`` found this job under its idempotency key: nothing was sent (or paid) this time."""
        self._cost_reported = False

    def __repr__(self) -> str:
        return f"<Job {self.spec.id} {self.id} {self.state.value if self.state else 'unknown'}>"

    @property
    def model(self) -> str:
        return self.spec.id

    # -- events ------------------------------------------------------------------------

    def on(self, callback: Callable[[Event], object]) -> None:
        """Call ``callback`` with every event from now on (after replaying the history)."""
        for event in self._history:
            callback(event)
        self._callbacks.append(callback)

    def _emit(self, event: Event) -> None:
        if not isinstance(event, Progress):
            self._history.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:  # a UI bug must not kill a paid job
                log.exception("event callback failed for job %s", self.id)

    async def events(self, **wait_options: Any) -> AsyncIterator[Event]:
        """Every event of the job, past ones first; ends after the terminal event.

        Starts waiting (with ``wait_options``) if nobody has yet, so
        ``async for event in job.events()`` alone drives a job to its end. A
        wait that stops without a terminal event (deadline, network) raises here.
        """
        queue: asyncio.Queue[Event] = asyncio.Queue()
        for event in self._history:
            queue.put_nowait(event)
        self._subscribers.append(queue)
        settled = any(isinstance(e, (Completed, Failed)) for e in self._history)
        waiter = None if settled else self._ensure_waiter(**wait_options)
        try:
            while True:
                if queue.empty() and waiter is not None and waiter.done():
                    exc = None if waiter.cancelled() else waiter.exception()
                    if exc is not None and not isinstance(exc, (JobFailedError, JobCancelledError)):
                        raise exc
                    return
                getter = asyncio.ensure_future(queue.get())
                pending: set[asyncio.Future[Any]] = {getter}
                if waiter is not None and not waiter.done():
                    pending.add(waiter)
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
                event = getter.result()
                yield event
                if isinstance(event, (Completed, Failed)):
                    return
        finally:
            self._subscribers.remove(queue)

    # -- observing responses -----------------------------------------------------------

    def observe(self, document: Any, headers: Mapping[str, str] | None = None) -> JobState:
        """Fold one status document into the job's state, emitting what changed."""
        clock = self.engine.clock
        provider = self.spec.provider
        self.last_response = document
        status = json_pointer.resolve(document, provider.status_pointer)
        state = provider.engine_state(status)
        if provider.mapped_status(status) is None:
            log.warning("job %s: unmapped provider status %r, treated as %s", self.id, status, state.value)
        self._server_hint_s = parse_retry_after((headers or {}).get("Retry-After"), clock.wall())
        if state is not self.state or status != self.provider_status:
            previous, self.state, self.provider_status = self.state, state, status
            self._emit(StatusChanged(self.id, previous, state, status, clock.now()))
        if state.terminal and not self._cost_reported:
            self._report_cost(document, headers)
        return state

    def _report_cost(self, document: Any, headers: Mapping[str, str] | None) -> None:
        """Where the spec says a terminal status answer carries the cost (DashScope's ``usage``), emit it once."""
        figures = read_cost(self.spec.provider, "status", document, headers)
        if not figures:
            return
        self._cost_reported = True
        usd = usd_figure(self.spec.provider, figures)
        self._emit(CostReported(self.id, figures, usd, "status", self.engine.clock.now()))

    def _context(self, remaining: float | None = None) -> PollContext:
        now = self.engine.clock.now()
        return PollContext(
            elapsed_s=now - self.submitted_at if self.submitted_at is not None else 0.0,
            polls=self.polls,
            state=self.state or JobState.QUEUED,
            hints=self.spec.polling,
            retry_after_s=self._server_hint_s,
            remaining_s=remaining,
            model=self.spec.id,
            params=self.params,
        )

    def _progress(self) -> None:
        if not self._subscribers and not self._callbacks:
            return  # progress is kept nowhere: with no one listening, 100,000 jobs need not build it
        now = self.engine.clock.now()
        elapsed = now - self.submitted_at if self.submitted_at is not None else 0.0
        expected = self.spec.polling.typical_duration_s
        estimate = getattr(self._strategy, "expected_total_s", None)  # EstimatesDuration (a plain lookup:
        if estimate is not None:  # a runtime Protocol check costs ~25 µs, for every job of 100,000)
            # The ETA from the same learned distribution the schedule comes from, given the time already waited.
            expected = estimate(self._context()) or expected
        fraction = min(0.99, elapsed / expected) if expected else None
        self._emit(Progress(self.id, elapsed, self.polls, expected, fraction, now))

    def _finish(self, waited_s: float) -> Result:
        document = self.last_response
        provider = self.spec.provider
        now = self.engine.clock.now()
        if self.state is JobState.SUCCEEDED:
            if self._result_document is not None:
                document = self._result_document
            urls = video_urls(self.spec, document, self._result_where)
            if not urls:
                raise ProtocolError(
                    f"job {self.id} succeeded but no video URL at {provider.result.video_url}", job_id=self.id
                )
            result = Result(
                self.id,
                self.spec.id,
                self.spec.spec_version,
                urls,
                metadata(self.spec, document, self._result_where),
                Timings(
                    self.submitted_at,
                    now,
                    waited_s,
                    self.polls,
                    self.submitted_wall,
                    self.engine.clock.wall(),
                    self._finished_between(now),
                ),
                self.last_response,  # the status answer (a separate result answer gave only the URLs above)
            )
            self._outcome = result
            self._emit(Completed(self.id, result, now))
            return result
        if self.state is JobState.FAILED:
            where = self._result_where or provider.result
            message = json_pointer.first(document, where.error_message)
            code = json_pointer.first(document, where.error_code)
            if self._failure is not None:
                message, code = self._failure
            error: Exception = JobFailedError(
                self.id, str(message) if message is not None else "no message", None if code is None else str(code)
            )
        else:
            error = JobCancelledError(self.id, remote=True)
        self._outcome = error
        self._emit(Failed(self.id, error, now))
        raise error

    # -- waiting -----------------------------------------------------------------------

    async def refresh(self) -> JobState:
        response = await self.engine.client.status(self.spec, self.id)
        self.polls += 1
        self._last_read_at = self.engine.clock.now()
        self._result_where = None  # a status answer: the provider's own result locations
        state = self.observe(response.document, response.headers)
        if not state.terminal:
            self._unfinished_at = self.engine.clock.now()  # a read, not the submit's answer: see _teach
        self._progress()
        return state

    async def _fetch_result(self) -> None:
        """Providers whose result is a second request (fal's response_url): fetch it once, when done."""
        if (
            self.state is JobState.SUCCEEDED
            and self.spec.provider.result_request is not None
            and self._result_document is None
            and not video_urls(self.spec, self.last_response, self._result_where)
        ):
            try:
                response = await self.engine.client.result(self.spec, self.id)
            except RequestRejectedError as exc:
                # fal reports a failed request as COMPLETED and answers its result request with the
                # error: the job failed (other errors propagate, and the job stays resumable by id).
                previous, self.state = self.state, JobState.FAILED
                self.last_response = exc.provider_message
                self._failure = (exc.provider_message or str(exc), None)
                self._emit(StatusChanged(self.id, previous, self.state, self.provider_status, self.engine.clock.now()))
                return
            self._result_document = response.document
            self._result_where = None

    # -- push --------------------------------------------------------------------------

    HINT_GAP_S = 2.0
    """At most one status read per this many seconds on account of unverified callbacks (a flood of
    forged hints costs the attacker requests, never us more than this)."""

    def _apply_callbacks(self, callbacks: list[Callback]) -> bool:
        """Fold verified callbacks in; True when a status read is needed (a hint, or a verified one
        that cannot be used as it is)."""
        read = False
        push = self.spec.provider.callbacks
        assert push is not None
        for callback in callbacks:
            if not callback.trusted or callback.state is None:
                read = True
                continue
            if self.state is not None and (self.state.terminal or rank(callback.state) < rank(self.state)):
                log.info("job %s: callback %s out of order (%s after %s), ignored", self.id, callback.event_id,
                         callback.state.value, self.state.value)
                continue
            where = push.result or self.spec.provider.result
            if (
                callback.state is JobState.SUCCEEDED
                and self.spec.provider.result_request is None
                and not video_urls(self.spec, callback.document, where)
            ):
                read = True  # says done but carries no result: ask the provider
                continue
            previous = self.state
            self.state, self.provider_status = callback.state, callback.provider_status
            self.last_response, self._result_where = callback.document, where
            self.callbacks_applied += 1
            if callback.state is not previous:
                self._emit(StatusChanged(self.id, previous, callback.state, callback.provider_status,
                                         self.engine.clock.now()))
        return read

    async def _pause(self, delay: float, box: Mailbox | None) -> bool:
        """Wait ``delay`` (or until a callback); True when a status read should follow."""
        clock = self.engine.clock
        if box is None:
            await clock.sleep(delay)
            return True
        callbacks = await sleep_or_wake(clock, delay, box)
        if not callbacks:
            return True  # the safety poll's time came
        if not self._apply_callbacks(callbacks):
            return False
        if self._last_read_at is not None:
            since = clock.now() - self._last_read_at
            if since < self.HINT_GAP_S:
                await clock.sleep(self.HINT_GAP_S - since)
        return True

    def _ensure_waiter(
        self, strategy: PollingStrategy | str | None = None, deadline: float | None = None
    ) -> asyncio.Task[Result]:
        if self._waiter is None or (self._waiter.done() and not isinstance(self._outcome, Result)):
            if self._outcome is not None and not isinstance(self._outcome, DeadlineExceededError):
                outcome = self._outcome

                async def settled() -> Result:
                    if isinstance(outcome, BaseException):
                        raise outcome
                    return outcome

                self._waiter = asyncio.ensure_future(settled())
            else:
                self._waiter = asyncio.ensure_future(self._poll(self.engine.strategy_for(strategy), deadline))
        return self._waiter

    async def wait(self, strategy: PollingStrategy | str | None = None, deadline: float | None = None) -> Result:
        """Poll until the job ends; raises JobFailedError, JobCancelledError or DeadlineExceededError.

        ``deadline`` is seconds from now. Reaching it stops polling but leaves
        the job as it is: wait again, or resume it by id later.
        """
        waiter = self._ensure_waiter(strategy, deadline)
        try:
            return await asyncio.shield(waiter)
        except asyncio.CancelledError:
            if waiter.cancelled() and isinstance(self._outcome, JobCancelledError):
                raise self._outcome from None
            raise

    async def _poll(self, strategy: PollingStrategy, deadline: float | None) -> Result:
        clock = self.engine.clock
        started = clock.now()
        # Only a job whose submission time is known can teach a strategy how long jobs take.
        self._submission_known = self._submission_known or self.submitted_at is not None
        learns = getattr(strategy, "observe_between", None) is not None  # LearnsDurations
        if self.submitted_at is None:
            self.submitted_at = started
        self._strategy = strategy  # the caller's (its estimates drive progress); push schedules by its safety net
        box = job_mailbox(self)
        if box is not None and self.spec.provider.callbacks is not None:
            strategy = SafetyNet.for_callbacks(self.spec.provider.callbacks)
        try:
            while True:
                if self.state is not None and self.state.terminal:
                    await self._fetch_result()
                    self._push_done()
                    if learns and self.state is JobState.SUCCEEDED:
                        self._teach(self._strategy)
                    return self._finish(clock.now() - started)
                waited = clock.now() - started
                remaining = None if deadline is None else deadline - waited
                if remaining is not None and remaining <= 0:
                    raise DeadlineExceededError(self.id, deadline or 0.0)
                if self.state is not None or self.polls:
                    ctx = self._context(remaining)
                    read = await self._pause(bounded_delay(strategy.next_delay(ctx), ctx), box)
                    if deadline is not None and clock.now() - started >= deadline:
                        raise DeadlineExceededError(self.id, deadline)
                    if not read:
                        continue
                await self.refresh()
        except DeadlineExceededError as exc:
            self._outcome = exc
            raise

    def _push_done(self) -> None:
        hub = getattr(self.engine, "push", None)
        if hub is not None and self.spec.provider.callbacks is not None:
            hub.finished(self.spec.provider.id, self.id)

    def _finished_between(self, now: float) -> tuple[float, float] | None:
        """When the job finished, as a poller knows it: after the last read that saw it unfinished, by now."""
        if self.submitted_at is None or self._unfinished_at is None or not self._submission_known:
            return None
        after_s, by_s = self._unfinished_at - self.submitted_at, now - self.submitted_at
        return (after_s, by_s) if 0 < after_s <= by_s else None

    def _teach(self, strategy: PollingStrategy) -> None:
        """Tell a learning strategy this job finished between the last two reads."""
        between = self._finished_between(self.engine.clock.now())
        if between is not None:
            cast("LearnsDurations", strategy).observe_between(self.spec.id, self.params, *between)

    async def cancel(self) -> bool:
        """Cancel on the provider where the spec can; else stop polling here. True if remote."""
        remote = self.spec.provider.cancel is not None
        if remote:
            response = await self.engine.client.cancel(self.spec, self.id)
            provider = self.spec.provider
            if json_pointer.resolve(response.document, provider.status_pointer) is not None:
                self.observe(response.document, response.headers)
            elif self.state is not JobState.CANCELLED:
                # The provider accepted the cancel but answered without a status (DashScope-style
                # {request_id}): the accepted cancel is the news, in the provider's own word for it.
                previous, self.state = self.state, JobState.CANCELLED
                self.provider_status = provider.canonical_status(JobState.CANCELLED)
                self._emit(StatusChanged(self.id, previous, self.state, self.provider_status, self.engine.clock.now()))
        # Without a remote cancel, stopping our waiter (below) is the whole of a local cancel.
        error = JobCancelledError(self.id, remote=remote)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()
        self._outcome = error
        self._push_done()
        self._emit(Failed(self.id, error, self.engine.clock.now()))
        return remote
