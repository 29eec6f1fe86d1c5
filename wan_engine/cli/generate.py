"""``wan-engine generate MODEL``: one command from parameters to a video on disk (or S3, or a webhook).

Every spec parameter becomes an option (see spec_options.py); validation
errors are printed, with their paths, before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
import click

from wan_engine import plugins
from wan_engine.cli import exits
from wan_engine.cli.journal import note_sent_to
from wan_engine.cli.options import collect, parameter_options
from wan_engine.cli.progress import ProgressView, choose_view
from wan_engine.client.budget import Budget
from wan_engine.client.engine import Engine
from wan_engine.client.job import Job
from wan_engine.client.polling import FixedInterval, PollingStrategy
from wan_engine.client.submitter import Hop
from wan_engine.clock import SystemClock
from wan_engine.delivery.tee import deliver_job
from wan_engine.errors import (
    ApiError,
    DeadlineExceededError,
    DeliveryError,
    JobCancelledError,
    JobFailedError,
    NetworkError,
    ParameterValidationError,
    UnknownModelError,
    WanEngineError,
)
from wan_engine.journal.durable import DurableEngine
from wan_engine.journal.location import ENV as JOURNAL_ENV
from wan_engine.journal.location import journal_target, shown
from wan_engine.redaction import redact
from wan_engine.sinks.config import SinkConfig
from wan_engine.sinks.protocols import sink_from_name
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.params import prepare
from wan_engine.spec.registry import SpecRegistry
from wan_engine.states import JobState

WEBHOOK_SECRET_ENV = "WAN_ENGINE_WEBHOOK_SECRET"
EXIT_INVALID, EXIT_ERROR, EXIT_JOB_FAILED, EXIT_INTERRUPTED = (
    exits.CHECK_FAILED,
    exits.USAGE,
    exits.JOB_FAILED,
    exits.INTERRUPTED,
)


def sink_configs(
    out: str | None, s3: str | None, s3_endpoint: str | None, webhook: str | None, *, overwrite: bool = False
) -> list[SinkConfig]:
    """The sinks a job names, as the journal keeps them (secrets by environment variable, never by value)."""
    configs: list[SinkConfig] = []
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"root": str(Path(out).resolve())}
        if overwrite:
            options["overwrite"] = True
        configs.append(SinkConfig("file", options))
    if s3:
        parts = urlsplit(s3)
        if parts.scheme != "s3" or not parts.netloc:
            raise click.BadParameter(f"expected s3://bucket/prefix, got {s3!r}", param_hint="--s3")
        s3_options: dict[str, Any] = {"bucket": parts.netloc, "prefix": parts.path.lstrip("/")}
        if s3_endpoint:
            s3_options["endpoint_url"] = s3_endpoint
        configs.append(SinkConfig("s3", s3_options))
    if webhook:
        if not os.environ.get(WEBHOOK_SECRET_ENV):
            raise click.UsageError(f"--webhook needs a signing secret in {WEBHOOK_SECRET_ENV} (e.g. whsec_...)")
        configs.append(SinkConfig("webhook", {"url": webhook}, secret_env={"secret": WEBHOOK_SECRET_ENV}))
    for config in configs:  # fail on a missing plugin or a bad option now, before a paid submit
        try:
            sink_from_name(config.plugin, **config.build_options(os.environ))
        except (ValueError, TypeError) as exc:  # e.g. a malformed webhook secret (never quoted back)
            where = WEBHOOK_SECRET_ENV if config.plugin == "webhook" else f"the {config.plugin} sink"
            raise click.ClickException(f"{where}: {exc}; nothing was sent") from None
    return configs


@contextlib.asynccontextmanager
async def _sandboxed(
    registry: SpecRegistry, duration: float, seed: int | None = None
) -> AsyncIterator[tuple[dict[str, str], dict[str, str]]]:
    """An in-process sandbox: base URLs and a stand-in key for every provider.

    Seeded afresh each run (unless ``seed``): the same ids every run made the
    second quick-start run collide with the first one's files and S3 keys.
    """
    from wan_engine.cli.sandbox import fresh_seed
    from wan_engine.sandbox import Sandbox, SandboxConfig

    config = SandboxConfig(duration_s=duration, seed=fresh_seed(seed))
    async with Sandbox(registry, config) as sandbox:
        env = {p.auth.env: "sandbox-key" for p in registry.providers.values() if p.auth.env}
        # The receiver checks the sandbox's callbacks with the sandbox's own signing secret.
        for provider in registry.providers.values():
            if provider.callbacks is not None and provider.callbacks.signature.secret_env:
                env[provider.callbacks.signature.secret_env] = config.callback_secret
        yield sandbox.base_urls(), {**os.environ, **env}


async def _ask_about_cancel(
    job: Job, key: str | None, view: ProgressView, interactive: bool, *, sandboxed: bool = False
) -> None:
    """What Ctrl-C means for the job: cancel it where the spec can, else say how to pick it up later."""
    view.close()  # the live line would overwrite the prompt
    if sandboxed:
        view.message(
            f"job {job.id} ran in this process's sandbox and ended with it: nothing keeps running or is billed."
        )
        return
    provider = job.spec.provider
    state = job.state or JobState.QUEUED
    remote = provider.cancel is not None and provider.can_cancel_in(state)
    if key is not None:
        resume = f"wan-engine resume {key} (wan-engine status {key} shows where it stands)"
    else:
        resume = f"engine.job({job.model!r}, {job.id!r}).wait() in Python (this run kept no journal)"
    if interactive and remote and click.confirm(f"Cancel job {job.id} on the provider?", default=False):
        try:
            await job.cancel()
        except WanEngineError as exc:
            view.message(f"the provider refused the cancel ({exc}); job {job.id} continues (and is billed).")
        else:
            view.message(f"job {job.id} cancelled on the provider")
            return
    elif provider.cancel is None:
        view.message(f"{provider.title} cannot cancel a job: job {job.id} keeps running (and is billed).")
    elif not remote:
        view.message(f"{provider.title} cannot cancel a {state.value} job: job {job.id} keeps running.")
    view.message(f"Left job {job.id} running; pick it up later with: {resume}", job_id=job.id)


@attrs.frozen
class Delivered:
    """What generate prints at the end, whichever path delivered it."""

    result_url: str
    lines: tuple[tuple[str, str | None, str | None], ...] = ()
    """(sink, location, error) per sink."""
    size: int | None = None
    sha256: str | None = None
    elapsed_s: float | None = None


async def _generate(
    registry: SpecRegistry,
    spec: ModelSpec,
    params: dict[str, Any],
    *,
    configs: list[SinkConfig],
    journal: Path | str | None,
    base_urls: Mapping[str, str],
    env: Mapping[str, str],
    strategy: PollingStrategy | str | None,
    deadline: float | None,
    view: ProgressView,
    sandboxed: bool = False,
    push: Any = None,
    max_usd: Budget | None = None,
    key: str | None = None,
    tags: tuple[str, ...] = (),
    fallbacks: Sequence[ModelSpec] = (),
) -> Delivered:
    """One job of ``spec``; with ``fallbacks``, the next model only after a verified failure (client/failover.py)."""
    options: dict[str, Any] = {"base_urls": base_urls, "env": env, "clock": SystemClock(), "budget": max_usd}
    if strategy is not None:  # else the engine's default: learned from the journal's history, or adaptive
        options["strategy"] = strategy
    if push is not None:
        options["push"] = push
    engine = DurableEngine(registry, journal=journal, **options) if journal else Engine(registry, **options)
    models = [spec, *fallbacks]
    async with engine, contextlib.AsyncExitStack() as background:
        if push is not None and isinstance(engine, DurableEngine):
            # Callbacks a `wan-engine receive` elsewhere recorded in the journal wake this run's job.
            from wan_engine.receiver.journal_bridge import JournalCallbacks

            bridge = asyncio.ensure_future(JournalCallbacks(engine.journal, push, interval_s=0.25).run())
            background.callback(bridge.cancel)
        failed: tuple[str, str | None, Literal["refused", "failed"], str] | None = None
        for index, model in enumerate(models):
            last = index == len(models) - 1
            hop_key = key if index == 0 or key is None else f"{key}/fallback-{index}"
            try:
                job = await engine.submit(
                    model.id, params, deliver_to=configs if journal else (), idempotency_key=hop_key, tags=tags
                )
            except (ApiError, NetworkError) as exc:  # certainly refused: no job exists
                if last:
                    raise
                view.message(f"{model.id} refused the job ({exc}); trying {models[index + 1].id}", model=model.id)
                failed = (model.id, None, "refused", str(exc))
                continue
            if failed is not None:
                engine.record_hop(Hop(failed[0], model.id, failed[2], failed[3], failed[1]), job)
                failed = None
            try:
                return await _follow_one(engine, model, job, hop_key, configs, base_urls, env, deadline, view,
                                         sandboxed)  # fmt: skip
            except JobFailedError as exc:  # verified: the job ended failed on the provider
                if last:
                    raise
                view.message(f"job {job.id} of {model.id} failed; trying {models[index + 1].id}", job_id=job.id)
                failed = (model.id, job.id, "failed", exc.provider_message)
        raise AssertionError("unreachable: the last model returns or raises")  # pragma: no cover


async def _follow_one(
    engine: Engine,
    spec: ModelSpec,
    job: Job,
    key: str | None,
    configs: list[SinkConfig],
    base_urls: Mapping[str, str],
    env: Mapping[str, str],
    deadline: float | None,
    view: ProgressView,
    sandboxed: bool,
) -> Delivered:
    """Wait for one submitted job and deliver it (or follow the earlier job an idempotency key found)."""
    if job.idempotent_replay:
        view.message(
            f"idempotency key {key!r}: job {job.id} was submitted earlier with these parameters; "
            "nothing was sent (or paid) now",
            job_id=job.id,
            idempotency_key=key,
        )
        return await _follow_earlier(engine, job, deadline, view)
    job.on(view.event)
    journal_key = engine.journal_key(job) if isinstance(engine, DurableEngine) else None
    if journal_key is not None and isinstance(engine, DurableEngine):
        for provider, url in base_urls.items():
            if provider == spec.provider.id:
                note_sent_to(engine.journal, journal_key, provider, url)
        # Said now, not only on Ctrl-C: a crash or a closed terminal may come first.
        view.message(f"journal key {journal_key}, provider id {job.id}", journal_key=journal_key, job_id=job.id)
    try:
        if not isinstance(engine, DurableEngine):
            return await _deliver_unjournaled(engine, job, configs, env, deadline, view)
        return await _deliver_journaled(engine, job, env, deadline, view)
    except asyncio.CancelledError:
        await _ask_about_cancel(job, journal_key, view, sys.stdin.isatty(), sandboxed=sandboxed)
        raise


async def _follow_earlier(engine: Engine, job: Job, deadline: float | None, view: ProgressView) -> Delivered:
    """A job found under an idempotency key: its result, from the journal when it is there, else by polling.

    Its delivery belongs to the run that submitted it (or to ``wan-engine resume``): this one only reads.
    """
    if isinstance(engine, DurableEngine):
        record = engine.journal.get(job.id)
        if record is not None and record.result is not None and record.result.video_urls:
            return Delivered(
                record.result.video_urls[0], tuple((s.name, s.location, s.error) for s in record.sinks if s.location)
            )
    job.on(view.event)
    result = await job.wait(deadline=deadline)
    return Delivered(result.video_url)


async def _deliver_journaled(
    engine: DurableEngine, job: Job, env: Mapping[str, str], deadline: float | None, view: ProgressView
) -> Delivered:
    """The path a resume would take too, so a crash anywhere in here is picked up by ``wan-engine resume``."""
    outcome = await engine.finish(job, deadline=deadline, env=env, on_progress=view.downloaded)
    record = engine.journal.get(outcome.key)
    assert record is not None
    if record.error and record.result is None:
        raise JobFailedError(job.id, _provider_message(job.id, record.error))
    if outcome.note and record.result is None:
        raise DeadlineExceededError(job.id, deadline or 0.0) if deadline else click.ClickException(outcome.note)
    url = record.result.video_urls[0] if record.result else ""
    done = [s for s in record.sinks if s.sha256]
    return Delivered(
        url,
        tuple((s.name, s.location, s.error) for s in record.sinks),
        size=done[0].size if done else None,
        sha256=done[0].sha256 if done else None,
    )


async def _deliver_unjournaled(
    engine: Engine,
    job: Job,
    configs: list[SinkConfig],
    env: Mapping[str, str],
    deadline: float | None,
    view: ProgressView,
) -> Delivered:
    result = await job.wait(deadline=deadline)
    if not configs:
        return Delivered(result.video_url)
    sinks = [sink_from_name(c.plugin, **c.build_options(env)) for c in configs]
    # Given the Job (not its Result), delivery puts its parameters in the sidecar.
    report = await deliver_job(engine, job, sinks, on_progress=view.downloaded)
    return Delivered(
        result.video_url,
        tuple((o.sink, o.location, o.error) for o in report.outcomes),
        size=report.size,
        sha256=report.sha256,
        elapsed_s=report.elapsed_s,
    )


def _provider_message(job_id: str, error: str) -> str:
    """The provider's words from a journaled error, which already reads "job X failed: ..."."""
    prefix = f"job {job_id} failed: "
    return error[len(prefix) :] if error.startswith(prefix) else error


def _print_report(view: ProgressView, delivered: Delivered) -> None:
    if not delivered.lines:
        view.message(f"video: {delivered.result_url}", video_url=delivered.result_url)
        return
    for sink, location, error in delivered.lines:
        if error is None:
            view.message(f"{sink}: {location}", sink=sink, location=location)
        else:
            view.message(f"{sink} FAILED: {error}", sink=sink, error=error)
    if delivered.sha256 is not None:
        speed = ""
        if delivered.elapsed_s and delivered.size is not None:
            speed = f" in {delivered.elapsed_s:.2f} s ({delivered.size / delivered.elapsed_s / 2**20:.1f} MiB/s)"
        view.message(
            f"{delivered.size:,} bytes{speed}, sha256 {delivered.sha256}", size=delivered.size, sha256=delivered.sha256
        )


def make_model_command(registry: SpecRegistry, spec: ModelSpec) -> click.Command:
    def run(**values: Any) -> None:
        params = dict(values.pop("params_file") or {})
        params.update(collect(spec, values))
        try:
            prepare(spec, params)
        except ParameterValidationError as exc:
            click.echo(f"{len(exc.violations)} invalid parameter(s) for {spec.id}; nothing was sent:", err=True)
            for violation in exc.violations:
                click.echo(f"  {violation.path}: {violation.message}", err=True)
            sys.exit(EXIT_INVALID)
        auth_env = spec.provider.auth.env
        if not values["sandbox"] and auth_env and not os.environ.get(auth_env):
            click.echo(
                f"No API key: {spec.provider.title} needs {auth_env} set in the environment.\n"
                f"To try it without a key (and without cost), add --sandbox: the whole job then runs against "
                f"a local stand-in of the API and still ends with a real MP4.",
                err=True,
            )
            sys.exit(EXIT_ERROR)
        configs = sink_configs(
            values["out"], values["s3"], values["s3_endpoint"], values["webhook"], overwrite=values["overwrite"]
        )
        # A misspelt --strategy or sink must be refused now, not after the provider has been paid.
        if values["strategy"]:
            plugins.check("strategy", values["strategy"])
        for config in configs:
            config.check()
        journal = _journal_for(values)
        if values["callbacks_url"] and not values["callbacks_on"] and journal is None:
            raise click.UsageError(
                "--callbacks-url without --callbacks-on needs the journal the receiver writes to: "
                "add --journal FILE (the one `wan-engine receive` uses), or --callbacks-on HOST:PORT"
            )
        budget = _budget(values)  # a bad combination is refused now, before anything is sent
        fallbacks = _fallbacks(registry, values["fallback"], params)
        view = choose_view(
            spec.id, as_json=values["as_json"], expected_s=values["sandbox_duration"] if values["sandbox"] else None
        )

        async def main() -> Delivered:
            async with contextlib.AsyncExitStack() as stack:
                base_urls: Mapping[str, str] = _base_urls(values["base_url"], spec)
                env: Mapping[str, str] = os.environ
                strategy: PollingStrategy | str | None = values["strategy"]
                if values["sandbox"]:
                    duration = values["sandbox_duration"]
                    sandbox = _sandboxed(registry, duration, values["sandbox_seed"])
                    base_urls, env = await stack.enter_async_context(sandbox)
                    # The spec's hints describe the real API's minutes; a sandbox job takes seconds.
                    strategy = values["strategy"] or FixedInterval(max(0.2, duration / 10))
                push = None
                if values["callbacks_on"]:
                    push = await _start_receiver(
                        stack, registry, env, values["callbacks_on"], values["callbacks_url"], view
                    )
                elif values["callbacks_url"]:
                    push = _journal_push(values["callbacks_url"], journal, view)
                return await _generate(
                    registry, spec, params, configs=configs, journal=journal, base_urls=base_urls, env=env,
                    strategy=strategy, deadline=values["deadline"], view=view, sandboxed=values["sandbox"],
                    push=push,
                    max_usd=budget, key=values["key"], tags=tuple(values["tag"]), fallbacks=fallbacks,
                )  # fmt: skip

        try:
            delivered = asyncio.run(main())
        except KeyboardInterrupt:
            view.close()
            sys.exit(EXIT_INTERRUPTED)
        except (JobFailedError, JobCancelledError, DeadlineExceededError) as exc:
            view.close()
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_JOB_FAILED)
        except DeliveryError as exc:  # the video exists; it did not arrive where asked
            view.close()
            # The library's advice names the Python flag; on the command line it is --overwrite.
            click.echo(f"error: {str(exc).replace('overwrite=True', '--overwrite')}", err=True)
            sys.exit(EXIT_JOB_FAILED)
        except WanEngineError as exc:
            view.close()
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except sqlite3.Error as exc:  # a provider id the journal already holds is a JournalUnwritableError above
            view.close()
            click.echo(f"error: the journal {journal} refused a write ({exc}): check the file, or pass --journal PATH",
                       err=True)  # fmt: skip
            sys.exit(EXIT_ERROR)
        view.close()
        _print_report(view, delivered)
        if any(error is not None for _sink, _location, error in delivered.lines):
            sys.exit(EXIT_JOB_FAILED)  # the video exists but did not arrive everywhere asked

    def load_params(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            loaded = json.loads(Path(value).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise click.BadParameter(str(exc)) from None
        if not isinstance(loaded, dict):
            raise click.BadParameter("the file must hold a JSON object")
        return loaded

    common = [
        click.Option(
            ["--params", "params_file"],
            type=click.Path(dir_okay=False),
            callback=load_params,
            help="A JSON file of parameters; options given on the command line override it.",
        ),
        click.Option(["--out"], type=click.Path(file_okay=False), help="Save the video (and a sidecar JSON) here."),
        click.Option(["--overwrite"], is_flag=True, help="Replace a file of the same name in --out."),
        click.Option(["--s3"], help="Also upload to s3://bucket/prefix (needs the wan-engine-s3 plugin)."),
        click.Option(["--s3-endpoint"], help="S3 endpoint URL, for S3-compatible stores."),
        click.Option(["--webhook"], help=f"POST a signed event here when delivered (secret in {WEBHOOK_SECRET_ENV})."),
        click.Option(
            ["--strategy"],
            default=None,
            help="Polling strategy plugin: fixed, exponential, adaptive, learned, or a third-party one. Default: "
            "learned from the journal's finished jobs once there are any, else adaptive.",
        ),
        click.Option(["--deadline"], type=float, help="Stop waiting after this many seconds (the job keeps running)."),
        click.Option(["--base-url"], help="Talk to this base URL instead of the provider's."),
        click.Option(["--sandbox"], is_flag=True, help="Run against a local sandbox in this process: no key, no cost."),
        click.Option(
            ["--callbacks-on"],
            metavar="HOST:PORT",
            callback=_check_listen,
            help="Receive the provider's callbacks on this address (push, with polling as a safety net); "
            "providers without callbacks are polled as usual.",
        ),
        click.Option(
            ["--callbacks-url"],
            metavar="URL",
            help="The public URL the provider reaches the receiver at (default http://HOST:PORT); "
            "the provider's id is appended. Without --callbacks-on: a `wan-engine receive` elsewhere, "
            "which passes callbacks on through the journal.",
        ),
        click.Option(
            ["--sandbox-duration"],
            type=float,
            default=3.0,
            show_default=True,
            help="Simulated job length with --sandbox.",
        ),
        click.Option(
            ["--sandbox-seed"], type=int, default=None, help="With --sandbox: its seed (default: a new one per run)."
        ),
        click.Option(["--json", "as_json"], is_flag=True, help="One JSON object per event on stdout."),
        click.Option(
            ["--journal"],
            type=click.Path(dir_okay=False),
            help=f"Journal file or postgresql:// URL (default: ${JOURNAL_ENV}, else the user data folder; "
            "none with --sandbox).",
        ),
        click.Option(["--no-journal"], is_flag=True, help="Keep no journal: a crash loses track of the job."),
        click.Option(
            ["--max-usd"],
            type=click.FloatRange(min=0),
            help="Refuse, before anything is sent, a job whose estimate (the spec's price data) exceeds this.",
        ),
        click.Option(
            ["--budget-since"],
            type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
            help="With --max-usd: also count what the journal's jobs since this date (UTC) cost or may have cost.",
        ),
        click.Option(
            ["--key"],
            help="Idempotency key: a run with the same key and parameters returns the earlier job instead of "
            "paying again (across processes sharing the journal; keys expire after 24 h).",
        ),
        click.Option(
            ["--fallback"],
            multiple=True,
            help="Another model to try, in order, only after this one's submit was refused or its job failed "
            "(never after a timeout or an unknown outcome: no double charge). Repeatable.",
        ),
        click.Option(["--tag"], multiple=True, help="Label the job in the spend ledger (repeatable; see spend)."),
    ]
    return click.Command(
        spec.id,
        params=[*parameter_options(spec), *common],
        callback=run,
        help=f"{spec.title} ({spec.provider.title}). {spec.document.description or ''}",
        short_help=spec.title,
    )


def _fallbacks(registry: SpecRegistry, names: Sequence[str], params: Mapping[str, Any]) -> list[ModelSpec]:
    """The --fallback models, each checked against the same parameters now, before anything is sent."""
    specs = []
    for name in names:
        try:
            fallback = registry.model(name)
            prepare(fallback, dict(params))
        except UnknownModelError as exc:
            raise click.UsageError(f"--fallback: {exc}") from None
        except ParameterValidationError as exc:
            problems = "; ".join(f"{v.path}: {v.message}" for v in exc.violations)
            raise click.UsageError(
                f"--fallback {name} does not take these parameters ({problems}); nothing was sent"
            ) from None
        specs.append(fallback)
    return specs


def _budget(values: Mapping[str, Any]) -> Budget | None:
    if values["max_usd"] is None:
        if values["budget_since"] is not None:
            raise click.UsageError("--budget-since needs --max-usd")
        return None
    since = values["budget_since"]
    return Budget(values["max_usd"], since=since.replace(tzinfo=UTC) if since is not None else None)


def _journal_for(values: Mapping[str, Any]) -> Path | str | None:
    """Real jobs are journaled by default (they cost money); sandbox jobs only when asked, since a
    later ``wan-engine resume`` could not reach the sandbox that ran them. A ``postgresql://`` URL
    (given, or in ``$WAN_ENGINE_JOURNAL``) is the shared journal, as for every other command."""
    if values["no_journal"]:
        return None
    if values["journal"]:
        return journal_target(values["journal"])
    return None if values["sandbox"] else journal_target()


def _check_listen(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT (e.g. 0.0.0.0:8787)")
    return host, int(port)


async def _start_receiver(
    stack: contextlib.AsyncExitStack,
    registry: SpecRegistry,
    env: Mapping[str, str],
    listen: tuple[str, int],
    public_url: str | None,
    view: ProgressView,
) -> Any:
    """The callback receiver on its own port for the length of the run; the hub the engine waits on."""
    from wan_engine.client.push import PushHub
    from wan_engine.receiver.app import CallbackReceiver, ReceiverServer

    host, port = listen
    hub = PushHub(public_url or f"http://{host}:{port}")
    server = await stack.enter_async_context(ReceiverServer(CallbackReceiver(registry, hub, env=env), host, port))
    if not public_url:
        hub.public_url = str(server.url)
    # A URL may carry a token in its query: shown without it, like every URL we print.
    view.message(f"receiving callbacks at {redact(hub.public_url)}/PROVIDER (listening on {server.url})")
    return hub


def _journal_push(public_url: str, journal: Path | str | None, view: ProgressView) -> Any:
    """Push through a receiver in another process (``wan-engine receive``), which records callbacks in
    the journal this run reads: the run needs that journal."""
    from wan_engine.client.push import PushHub

    if journal is None:
        raise click.UsageError(
            "--callbacks-url without --callbacks-on needs the journal the receiver writes to: "
            "add --journal FILE (the one `wan-engine receive` uses), or --callbacks-on HOST:PORT"
        )
    where = redact(public_url.rstrip("/"))
    view.message(f"callbacks go to {where}/PROVIDER and reach this run through {shown(journal)}")
    return PushHub(public_url)


def _base_urls(base_url: str | None, spec: ModelSpec) -> dict[str, str]:
    return {spec.provider.id: base_url} if base_url else {}


class GenerateCommand(click.Group):
    """``generate MODEL [OPTIONS]``: each model is a subcommand built from its spec on demand."""

    def _registry(self, ctx: click.Context) -> SpecRegistry:
        obj = ctx.find_root().obj
        registry = getattr(obj, "registry", None)
        return registry if isinstance(registry, SpecRegistry) else SpecRegistry.discover()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self._registry(ctx).models_by_id)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        registry = self._registry(ctx)
        if cmd_name not in registry.models_by_id:
            return None
        return make_model_command(registry, registry.model(cmd_name))


generate_command = GenerateCommand("generate", help="Generate a video with MODEL: submit, watch, and deliver it.")
