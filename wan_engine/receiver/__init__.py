"""The callback receiver: provider callbacks in, verified, matched, deduplicated, and waking jobs.

``CallbackReceiver`` (app.py) is one handler, served three ways: its own aiohttp
server on a port of the engine's, an ``aiohttp`` sub-application an app mounts in its
server, or an ASGI application. ``JournalCallbacks`` (journal_bridge.py) lets a
callback received by one process reach a job waiting in another, through the journal.
"""
