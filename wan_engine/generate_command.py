"""``wan-engine generate MODEL``: one command from parameters to a video on disk (or S3, or a webhook).

Every spec parameter becomes an option (see spec_options.py); validation
errors are printed, with their paths, before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from wan_engine.clock import SystemClock
from wan_engine.delivery import DeliveryReport, deliver_job
from wan_engine.engine import Engine
from wan_engine.errors import JobCancelledError, JobFailedError, ParameterValidationError, WanEngineError
from wan_engine.params import prepare
from wan_engine.progress_views import ProgressView, choose_view
from wan_engine.registry import SpecRegistry
from wan_engine.sinks.base import Sink, sink_from_name
from wan_engine.spec_model import ModelSpec
from wan_engine.spec_options import collect, parameter_options
from wan_engine.strategies import FixedInterval, PollingStrategy

WEBHOOK_SECRET_ENV = "WAN_ENGINE_WEBHOOK_SECRET"
EXIT_INVALID, EXIT_ERROR, EXIT_JOB_FAILED, EXIT_INTERRUPTED = 1, 2, 3, 130


def build_sinks(out: str | None, s3: str | None, s3_endpoint: str | None, webhook: str | None) -> list[Sink]:
    sinks: list[Sink] = []
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        sinks.append(sink_from_name("file", root=out))
    if s3:
        parts = urlsplit(s3)
        if parts.scheme != "s3" or not parts.netloc:
            raise click.BadParameter(f"expected s3://bucket/prefix, got {s3!r}", param_hint="--s3")
        options: dict[str, Any] = {"bucket": parts.netloc, "prefix": parts.path.lstrip("/")}
        if s3_endpoint:
            options["endpoint_url"] = s3_endpoint
        sinks.append(sink_from_name("s3", **options))
    if webhook:
        secret = os.environ.get(WEBHOOK_SECRET_ENV)
        if not secret:
            raise click.UsageError(f"--webhook needs a signing secret in {WEBHOOK_SECRET_ENV} (e.g. whsec_...)")
        sinks.append(sink_from_name("webhook", url=webhook, secret=secret))
    return sinks


@contextlib.asynccontextmanager
async def _sandboxed(registry: SpecRegistry, duration: float) -> AsyncIterator[tuple[dict[str, str], dict[str, str]]]:
    """An in-process sandbox: base URLs and a stand-in key for every provider."""
    from wan_engine.sandbox import Sandbox, SandboxConfig

    async with Sandbox(registry, SandboxConfig(duration_s=duration)) as sandbox:
        env = {p.auth.env: "sandbox-key" for p in registry.providers.values() if p.auth.env}
        yield sandbox.base_urls(), {**os.environ, **env}


async def _ask_about_cancel(job: Any, view: ProgressView, interactive: bool) -> None:
    remote = job.spec.provider.cancel is not None
    resume = f"wan-engine resume, or in Python: engine.job({job.model!r}, {job.id!r}).wait()"
    if interactive and remote and click.confirm(f"\nCancel job {job.id} on the provider?", default=False):
        await job.cancel()
        view.message(f"job {job.id} cancelled on the provider")
        return
    if not remote:
        view.message(f"{job.spec.provider.title} cannot cancel a job: job {job.id} keeps running (and is billed).")
    view.message(f"Left job {job.id} running; pick it up later with: {resume}", job_id=job.id)


async def _generate(
    registry: SpecRegistry,
    spec: ModelSpec,
    params: dict[str, Any],
    *,
    sinks: list[Sink],
    base_urls: Mapping[str, str],
    env: Mapping[str, str],
    strategy: PollingStrategy | str,
    deadline: float | None,
    view: ProgressView,
) -> tuple[Any, DeliveryReport | None]:
    async with Engine(registry, base_urls=base_urls, env=env, clock=SystemClock(), strategy=strategy) as engine:
        job = await engine.submit(spec.id, params)
        job.on(view.event)
        try:
            result = await job.wait(deadline=deadline)
        except asyncio.CancelledError:
            await _ask_about_cancel(job, view, sys.stdin.isatty())
            raise
        report = None
        if sinks:
            report = await deliver_job(engine, job, sinks, on_progress=view.downloaded)
        return result, report


def _print_report(view: ProgressView, result: Any, report: DeliveryReport | None) -> None:
    if report is None:
        view.message(f"video: {result.video_url}", video_url=result.video_url)
        return
    for outcome in report.outcomes:
        if outcome.ok:
            view.message(f"{outcome.sink}: {outcome.location}", sink=outcome.sink, location=outcome.location)
        else:
            view.message(f"{outcome.sink} FAILED: {outcome.error}", sink=outcome.sink, error=outcome.error)
    rate = report.size / report.elapsed_s / 2**20 if report.elapsed_s > 0 else float("inf")
    view.message(
        f"{report.size:,} bytes in {report.elapsed_s:.2f} s ({rate:.1f} MiB/s), sha256 {report.sha256}",
        size=report.size, sha256=report.sha256, elapsed_s=report.elapsed_s,
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
        sinks = build_sinks(values["out"], values["s3"], values["s3_endpoint"], values["webhook"])
        view = choose_view(spec.id, as_json=values["as_json"])

        async def main() -> tuple[Any, DeliveryReport | None]:
            if values["sandbox"]:
                # The spec's hints describe the real API's minutes; a sandbox job takes seconds, so poll to match.
                duration = values["sandbox_duration"]
                strategy = values["strategy"] or FixedInterval(max(0.2, duration / 10))
                async with _sandboxed(registry, duration) as (base_urls, env):
                    return await _generate(registry, spec, params, sinks=sinks, base_urls=base_urls, env=env,
                                           strategy=strategy, deadline=values["deadline"], view=view)
            return await _generate(registry, spec, params, sinks=sinks, base_urls=_base_urls(values["base_url"], spec),
                                   env=os.environ, strategy=values["strategy"] or "adaptive",
                                   deadline=values["deadline"], view=view)

        try:
            result, report = asyncio.run(main())
        except KeyboardInterrupt:
            view.close()
            sys.exit(EXIT_INTERRUPTED)
        except (JobFailedError, JobCancelledError) as exc:
            view.close()
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_JOB_FAILED)
        except WanEngineError as exc:
            view.close()
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        view.close()
        _print_report(view, result, report)
        if report is not None and not report.ok:
            sys.exit(EXIT_ERROR)

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
        click.Option(["--params", "params_file"], type=click.Path(dir_okay=False), callback=load_params,
                     help="A JSON file of parameters; options given on the command line override it."),
        click.Option(["--out"], type=click.Path(file_okay=False), help="Save the video (and a sidecar JSON) here."),
        click.Option(["--s3"], help="Also upload to s3://bucket/prefix (needs the wan-engine-s3 plugin)."),
        click.Option(["--s3-endpoint"], help="S3 endpoint URL, for S3-compatible stores."),
        click.Option(["--webhook"], help=f"POST a signed event here when delivered (secret in {WEBHOOK_SECRET_ENV})."),
        click.Option(["--strategy"], default=None,
                     help="Polling strategy plugin: fixed, exponential, adaptive (the default), or a third-party one."),
        click.Option(["--deadline"], type=float, help="Stop waiting after this many seconds (the job keeps running)."),
        click.Option(["--base-url"], help="Talk to this base URL instead of the provider's."),
        click.Option(["--sandbox"], is_flag=True, help="Run against a local sandbox in this process: no key, no cost."),
        click.Option(["--sandbox-duration"], type=float, default=3.0, show_default=True,
                     help="Simulated job length with --sandbox."),
        click.Option(["--json", "as_json"], is_flag=True, help="One JSON object per event on stdout."),
    ]
    return click.Command(
        spec.id,
        params=[*parameter_options(spec), *common],
        callback=run,
        help=f"{spec.title} ({spec.provider.title}). {spec.document.description or ''}",
        short_help=spec.title,
    )


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
