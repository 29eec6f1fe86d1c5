"""``wan-engine proxy``: record and validate an app's own traffic to one provider."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click

from wan_engine.cassettes.contract import Breach
from wan_engine.cassettes.proxy import RecordingProxy, summary_lines
from wan_engine.sandbox.faults import FaultPlan
from wan_engine.spec.registry import SpecRegistry


@click.command("proxy")
@click.option("--provider", "provider_id", required=True, help="The provider whose API to proxy (e.g. aimlapi).")
@click.option("--upstream", default=None, help="Where to forward (default: the provider's real base URL).")
@click.option("--cassette", required=True, type=click.Path(dir_okay=False), help="The cassette file to write.")
@click.option("--model", default=None, help="The model recorded (default: read from the first submit body).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8766, show_default=True, type=int, help="Port to listen on (0: any free port).")
@click.option("--fault", "faults", multiple=True, metavar="REQUEST:KIND[:k=v...]", help="Inject a fault (repeatable).")
@click.pass_context
def proxy_command(
    ctx: click.Context,
    provider_id: str,
    upstream: str | None,
    cassette: str,
    model: str | None,
    host: str,
    port: int,
    faults: tuple[str, ...],
) -> None:
    """Forward to the provider, check every answer against the spec as it passes, and record a scrubbed cassette.

    Point the app's base URL for PROVIDER at the address printed; Ctrl-C stops and
    reports. Exit 1 if any answer broke the spec.
    """
    registry = getattr(ctx.obj, "registry", None) or SpecRegistry.discover()
    if provider_id not in registry.providers:
        known = ", ".join(sorted(registry.providers))
        raise click.BadParameter(f"unknown provider {provider_id!r}; known: {known}", param_hint="--provider")
    try:
        plan = FaultPlan.parse(faults)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from None
    target = upstream or registry.providers[provider_id].base_url

    def breach(found: Breach) -> None:
        click.echo(f"BREACH {found}", err=True)

    proxy = RecordingProxy(registry, provider_id, target, cassette, model=model, faults=plan, on_breach=breach)

    async def run() -> None:
        runner = await proxy.serve(host, port)
        print(f"{provider_id} -> {target} on {proxy.base_url} (recording to {cassette})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(run())
    for line in summary_lines(proxy):
        click.echo(line)
    if proxy.breaches:
        ctx.exit(1)
