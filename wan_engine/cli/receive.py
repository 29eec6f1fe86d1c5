"""``wan-engine receive``: a long-lived callback receiver that writes what it gets to the journal.

For jobs started by other processes (``wan-engine generate --callbacks-url URL`` runs, an app's
DurableEngine with a JournalCallbacks bridge): each verified callback for a job the journal knows is
recorded as a ``callback`` event, and the process waiting on that job picks it up and wakes.
Nothing it receives can submit anything: it holds no provider client.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sys

import click

from wan_engine.journal.location import ENV as JOURNAL_ENV


@click.command("receive")
@click.argument("listen", metavar="HOST:PORT")
@click.option(
    "--journal", "journal_file", type=click.Path(dir_okay=False),
    help=f"The journal the waiting processes use (default: ${JOURNAL_ENV}, else the user data folder).",
)  # fmt: skip
@click.option(
    "--specs", "spec_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
    help="An extra folder of spec files (repeatable).",
)  # fmt: skip
def receive_command(listen: str, journal_file: str | None, spec_dirs: tuple[str, ...]) -> None:
    """Receive provider callbacks on HOST:PORT (routes POST /PROVIDER) and record them in the journal."""
    from wan_engine.cli.generate import _check_listen
    from wan_engine.client.push import PushHub
    from wan_engine.journal import open_journal
    from wan_engine.journal.location import journal_target, shown
    from wan_engine.receiver.app import CallbackReceiver, ReceiverServer
    from wan_engine.spec.registry import SpecRegistry

    address = _check_listen(click.get_current_context(), click.Argument(["listen"]), listen)
    assert address is not None
    host, port = address
    path = journal_target(journal_file)  # a file, or a postgresql:// URL
    journal = open_journal(path)
    receiver = CallbackReceiver(SpecRegistry.discover(spec_dirs), PushHub("http://unused"), journal=journal)

    async def serve() -> None:
        async with ReceiverServer(receiver, host, port) as server:
            click.echo(f"wan-engine receiving callbacks on {server.url}/PROVIDER, recording them in {shown(path)}")
            sys.stdout.flush()
            await asyncio.Event().wait()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.UsageError(f"port {port} on {host} is in use: stop what holds it, or pick another") from None
        raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        journal.close()
