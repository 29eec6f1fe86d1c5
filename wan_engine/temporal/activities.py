"""The workflow's steps, as activities that wrap what the engine already does.

Every activity works under the job's journal lease (claimed like ``resume``
claims it, renewed while the activity runs, released after), so a worker that
Temporal gave up on but that still runs (paused, partitioned) is fenced out of
the journal by the one that took over. Every activity heartbeats while it runs:
a worker that dies stops heartbeating and Temporal retries the activity on
another worker within the heartbeat timeout.

The money rules are the journal's, whatever Temporal retries:

* ``submit`` reads the journal first and never re-sends: an id there is reused;
  an intent without an id (a worker died mid-submit) becomes ``submit_unknown``
  and fails without retry; only a key the journal has never seen is sent, with
  the write-ahead intent journaled under the workflow id before the request;
* ``wait`` polls through the engine's own job (statuses journaled as they come)
  and hands a long delay back to the workflow to sleep on a durable timer;
* ``deliver`` is the journal's idempotent redelivery (``deliver_pending``):
  sinks already delivered are skipped, sinks caught mid-commit reconciled;
* ``cancel`` cancels on the provider where the spec can, journaled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from wan_engine.client.hooks import SubmitOptions
from wan_engine.client.job import Job
from wan_engine.client.polling import PollContext, PollingStrategy, bounded_delay
from wan_engine.crashpoints import crashpoint
from wan_engine.errors import (
    ApiError,
    BudgetExceededError,
    DeadlineExceededError,
    IdempotencyKeyMismatchError,
    JobCancelledError,
    JobFailedError,
    JournalError,
    NetworkError,
    UsageError,
    WanEngineError,
)
from wan_engine.journal.durable import DurableEngine
from wan_engine.journal.listener import attach
from wan_engine.journal.records import JobRecord, JournalState
from wan_engine.journal.redeliver import deliver_pending
from wan_engine.journal.resume import DIED_WHILE_SUBMITTING, lease_kept
from wan_engine.journal.write_ahead import WriteAhead, WriteAheadAttempt
from wan_engine.sinks.config import SinkConfig
from wan_engine.spec.model import ModelSpec
from wan_engine.temporal.workflow import (
    INVALID,
    SUBMIT_REFUSED,
    SUBMIT_UNKNOWN,
    Delivered,
    StepRequest,
    Submitted,
    Waited,
)

BUSY = "JobBusy"
"""Another live worker holds the job's lease: retried (Temporal's backoff) until it is free or expired."""

_workflow_key: ContextVar[str | None] = ContextVar("wan_engine_temporal_key", default=None)


class KeyedWriteAhead(WriteAhead):
    """The journal's write-ahead interceptor, journaling under the workflow id when a submit activity runs.

    The key comes from a context variable the activity sets, so one engine serves
    thousands of concurrent activities; outside an activity it is the plain ``WriteAhead``.
    """

    def begin_submit_with(
        self, spec: ModelSpec, params: Mapping[str, Any], deliver_to: Sequence[Any], options: SubmitOptions
    ) -> WriteAheadAttempt:
        key = _workflow_key.get()
        if key is None:
            return super().begin_submit_with(spec, params, deliver_to, options)
        sinks = list(deliver_to)
        for sink in sinks:
            if not isinstance(sink, SinkConfig):
                raise UsageError(f"deliver_to takes SinkConfig records, not {type(sink).__name__}")
            sink.check()
        self.journal.intend_as(
            key, model=spec.id, spec_version=spec.spec_version, params=params, sinks=sinks, at=self.clock.wall(),
            owner=self.owner, lease_s=self.lease_s,
        )  # fmt: skip
        crashpoint("submit.before_send")
        return WriteAheadAttempt(self, key, options)


class TemporalEngine(DurableEngine):
    """A ``DurableEngine`` whose submits journal under the running workflow's id (see KeyedWriteAhead)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interceptors[0] = KeyedWriteAhead(self.journal, self.clock, self.owner, self.lease_s, self.keys)


class LongWait(Exception):  # internal: raised and caught inside one activity, never escapes it
    """Raised out of a poll loop: the next delay is long enough to sleep in the workflow instead."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(f"next poll in {delay_s:.0f} s")
        self.delay_s = delay_s


class HandBackLongWaits:
    """A polling strategy that heartbeats at each poll and hands long delays back to the workflow."""

    def __init__(self, inner: PollingStrategy, long_wait_s: float) -> None:
        self.inner, self.long_wait_s = inner, long_wait_s

    def next_delay(self, ctx: PollContext) -> float:
        activity.heartbeat(ctx.polls)
        delay = bounded_delay(self.inner.next_delay(ctx), ctx)
        if delay > self.long_wait_s and (ctx.remaining_s is None or delay < ctx.remaining_s):
            raise LongWait(delay)
        return delay


def record_to_sink_configs(sinks: list[dict[str, Any]]) -> list[SinkConfig]:
    return [
        SinkConfig(s["plugin"], s.get("options") or {}, s.get("secret_env") or {}, name=s.get("name")) for s in sinks
    ]


class JobActivities:
    """The four activities, bound to one worker's engine (one per worker process, shared by every job)."""

    def __init__(self, engine: TemporalEngine, *, env: Mapping[str, str] | None = None, lease_s: float = 30.0) -> None:
        self.engine, self.env, self.lease_s = engine, env if env is not None else os.environ, lease_s

    @property
    def journal(self) -> Any:
        return self.engine.journal

    # -- keeping the worker visibly alive, and the job's lease held ------------------------

    @contextlib.asynccontextmanager
    async def _heartbeating(self) -> AsyncIterator[None]:
        """Heartbeat every third of the timeout while the body runs (a single long HTTP call included)."""
        timeout = activity.info().heartbeat_timeout
        every = timeout.total_seconds() / 3 if timeout else 10.0

        async def beat() -> None:
            while True:
                activity.heartbeat()
                await asyncio.sleep(every)

        beater = asyncio.ensure_future(beat())
        try:
            yield
        finally:
            beater.cancel()

    @contextlib.asynccontextmanager
    async def _leased(self, key: str) -> AsyncIterator[None]:
        claim = self.journal.claim(key, self.engine.owner, self.lease_s)
        if not claim.taken:
            raise ApplicationError(f"job {key} is held by {claim.owner}; retrying when it is free", type=BUSY)
        async with lease_kept(self.engine, key, self.lease_s):
            yield

    def _record(self, key: str) -> JobRecord:
        record = self.journal.get(key)
        if record is None:
            raise ApplicationError(f"no job {key} in the journal", type=INVALID, non_retryable=True)
        assert isinstance(record, JobRecord)
        return record

    # -- the activities ----------------------------------------------------------------------

    @activity.defn(name="submit")
    async def submit(self, request: StepRequest) -> Submitted:
        key = request.key
        async with self._heartbeating():
            record = self.journal.get(key)
            if record is None:
                return await self._send(request)
            if record.provider_id is not None:
                return Submitted(record.provider_id, reused=True)  # the retry of a submit that got its id
            if record.state is JournalState.SUBMITTING:
                async with self._leased(key):  # a live sender keeps it; a dead one's intent becomes unknown
                    fresh = self._record(key)
                    if fresh.provider_id is not None:
                        return Submitted(fresh.provider_id, reused=True)
                    if fresh.state is JournalState.SUBMITTING:
                        self.journal.mark_submit_unknown(key, DIED_WHILE_SUBMITTING, self.engine.clock.wall())
                record = self._record(key)
            raise self._no_id(record)

    async def _send(self, request: StepRequest) -> Submitted:
        job = request.job
        token = _workflow_key.set(request.key)
        try:
            sent = await self.engine.submit(job.model, job.params, deliver_to=record_to_sink_configs(job.sinks))
        except (ApiError, NetworkError) as exc:  # refused, journaled as such: nothing was created
            raise ApplicationError(str(exc), type=SUBMIT_REFUSED, non_retryable=True) from None
        except (UsageError, BudgetExceededError, IdempotencyKeyMismatchError) as exc:  # refused before any send
            raise ApplicationError(str(exc), type=INVALID, non_retryable=True) from None
        except JournalError as exc:
            # Another attempt journaled this key first, or the id could not be journaled after the send:
            # retried, and the retry reads the journal (an id is reused, an intent without one is unknown).
            raise ApplicationError(str(exc), type=BUSY) from None
        except WanEngineError as exc:  # the outcome is unknown, journaled as such: never re-sent
            raise ApplicationError(str(exc), type=SUBMIT_UNKNOWN, non_retryable=True) from None
        finally:
            _workflow_key.reset(token)
            self.journal.release(request.key, self.engine.owner)
        return Submitted(sent.id, reused=False)

    @staticmethod
    def _no_id(record: JobRecord) -> ApplicationError:
        if record.state is JournalState.REFUSED:
            return ApplicationError(record.error or "refused", type=SUBMIT_REFUSED, non_retryable=True)
        return ApplicationError(
            f"job {record.key}: {record.error or DIED_WHILE_SUBMITTING}", type=SUBMIT_UNKNOWN, non_retryable=True
        )

    @activity.defn(name="wait")
    async def wait(self, request: StepRequest) -> Waited:
        key = request.key
        async with self._heartbeating(), self._leased(key):
            record = self._record(key)
            if record.provider_id is None:
                raise self._no_id(record)
            if not (record.state.on_provider or (record.state is JournalState.SUCCEEDED and record.result is None)):
                return Waited(record.state.value, done=True)
            job = self._job(record)
            strategy = HandBackLongWaits(self.engine.strategy_for(request.job.strategy), request.job.long_wait_s)
            try:
                await job.wait(strategy=strategy, deadline=request.job.poll_window_s)
            except LongWait as long:
                return Waited(self._record(key).state.value, done=False, sleep_s=long.delay_s)
            except DeadlineExceededError:
                return Waited(self._record(key).state.value, done=False, sleep_s=0.0)
            except (JobFailedError, JobCancelledError):
                pass  # journaled by the job's recorder
            return Waited(self._record(key).state.value, done=True)

    def _job(self, record: JobRecord) -> Job:
        assert record.provider_id is not None
        age_s = max(0.0, (self.engine.clock.wall() - record.created_at).total_seconds())
        job = self.engine.job(
            record.model, record.provider_id, submitted_at=self.engine.clock.now() - age_s,
            submitted_wall=record.created_at,
        )  # fmt: skip
        attach(job, self.journal, record.key, self.engine.keys)
        return job

    @activity.defn(name="deliver")
    async def deliver(self, request: StepRequest) -> Delivered:
        key = request.key

        def progress(done: int, total: int | None) -> None:
            activity.heartbeat(done)

        async with self._heartbeating(), self._leased(key):
            before = self._record(key)
            current = before
            if current.state is JournalState.SUCCEEDED and current.result is not None and current.deliveries_pending:
                current = await deliver_pending(self.engine, current, env=self.env, on_progress=progress)
            if current.delivered:
                crashpoint("job.delivered")
            failed = {s.name: s.error or "failed" for s in current.sinks if s.state.value == "failed"}
            if failed:  # a sink that failed is tried again by the activity's retry (delivery is idempotent)
                raise ApplicationError(f"job {key}: sinks failed: {failed}", type="DeliveryFailed")
            return Delivered(current.summary_state, [s.name for s in current.sinks if s.state.done], {})

    @activity.defn(name="cancel")
    async def cancel(self, request: StepRequest) -> Waited:
        key = request.key
        async with self._heartbeating(), self._leased(key):
            record = self._record(key)
            if record.provider_id is not None and record.state.on_provider:
                await self._job(record).cancel()
            return Waited(self._record(key).state.value, done=True)

    def all(self) -> list[Any]:
        """Every activity, for ``Worker(activities=...)``."""
        return [self.submit, self.wait, self.deliver, self.cancel]
