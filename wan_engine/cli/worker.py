"""``wan-engine worker``: serve video jobs from a Temporal task queue (extra ``wan-engine[temporal]``).

Start as many as the load needs, a few per host, all pointing at the same
Temporal service and the same journal (``--journal postgresql://...``): any of
them takes any job, and when one dies its activities move to the others after
their heartbeat timeout. Apps hand jobs over with ``wan_engine.temporal.enqueue``.
"""

from __future__ import annotations

import asyncio
import os
import sys

import click

from wan_engine.cli.journal import _parse_base_urls, journal_option, open_journal


@click.command()
@click.option("--temporal", "target", required=True, metavar="HOST:PORT", help="The Temporal service (frontend).")
@click.option("--task-queue", required=True, help="The task queue the jobs are enqueued on.")
@click.option("--namespace", default="default", show_default=True, help="The Temporal namespace.")
@journal_option
@click.option(
    "--base-url", "base_urls", multiple=True, metavar="PROVIDER=URL", help="Use URL for PROVIDER (e.g. a sandbox)."
)
@click.option(
    "--strategy", default="adaptive", show_default=True, help="Default polling strategy: fixed, exponential, adaptive."
)
@click.option(
    "--poll-interval", type=float, default=None, help="Poll every this many seconds (the fixed strategy) instead."
)
@click.option("--lease", "lease_s", type=float, default=30.0, show_default=True, help="Journal lease per job, s.")
@click.option("--max-activities", type=int, default=1000, show_default=True, help="Concurrent activities.")
@click.pass_context
def worker_command(
    ctx: click.Context,
    target: str,
    task_queue: str,
    namespace: str,
    journal_file: str | None,
    base_urls: tuple[str, ...],
    strategy: str,
    poll_interval: float | None,
    lease_s: float,
    max_activities: int,
) -> None:
    """Run video jobs enqueued on a Temporal task queue until stopped (SIGINT or SIGTERM).

    The journal (--journal or $WAN_ENGINE_JOURNAL) keeps the money facts whatever
    Temporal retries; share it between workers with a postgresql:// URL.
    """
    try:
        from wan_engine.temporal.worker import run_worker
    except ImportError:
        raise click.ClickException("the worker needs Temporal: pip install 'wan-engine[temporal]'") from None
    from wan_engine.client.polling import FixedInterval, PollingStrategy
    from wan_engine.spec.registry import SpecRegistry

    chosen: PollingStrategy | str = FixedInterval(poll_interval) if poll_interval else strategy
    registry = getattr(ctx.find_root().obj, "registry", None) or SpecRegistry.discover()
    given = _parse_base_urls(base_urls)
    journal = open_journal(journal_file)

    def ready(engine: object) -> None:
        owner = getattr(engine, "owner", "?")
        click.echo(f"worker {owner} serving task queue {task_queue} on {target}", err=True)
        sys.stderr.flush()

    async def serve() -> None:
        try:
            await run_worker(
                target, task_queue, journal=journal, registry=registry, namespace=namespace, base_urls=given,
                env=os.environ, strategy=chosen, lease_s=lease_s, max_concurrent_activities=max_activities,
                on_ready=ready,
            )  # fmt: skip
        except RuntimeError as exc:  # temporalio's connection failures
            if "connect" not in str(exc).lower():
                raise
            raise click.ClickException(f"cannot reach Temporal at {target} ({exc}): is the service running?") from None

    try:
        asyncio.run(serve())
    finally:
        journal.close()
