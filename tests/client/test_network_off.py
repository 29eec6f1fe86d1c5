"""The suite runs with the network off: conftest's guard refuses every connection beyond loopback.

192.0.2.1 is TEST-NET-1 (RFC 5737): never routed, and never reached here, since the
guard refuses before any packet leaves.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile

import aiohttp
import pytest
from conftest import NetworkDisabledError

PUBLIC = ("192.0.2.1", 80)


def test_the_guard_is_on() -> None:
    assert os.environ.get("WAN_ENGINE_ALLOW_NETWORK") != "1", "the guard was turned off for this run"


def test_a_socket_connect_to_a_public_address_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkDisabledError) as caught:
        sock.connect(PUBLIC)
    assert "192.0.2.1" in str(caught.value)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.connect_ex(PUBLIC) != 0
    with pytest.raises(NetworkDisabledError):
        socket.create_connection(PUBLIC, timeout=0.1)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock, pytest.raises(NetworkDisabledError):
        sock.connect(("2001:db8::1", 80, 0, 0))


def test_dns_lookups_of_public_names_are_refused() -> None:
    with pytest.raises(socket.gaierror, match="network is off"):
        socket.getaddrinfo("api.aimlapi.com", 443)


async def test_aiohttp_cannot_reach_a_public_address() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get("http://192.0.2.1/", timeout=aiohttp.ClientTimeout(total=2))
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get("https://api.aimlapi.com/v2/video/generations")


async def test_loopback_and_unix_sockets_still_work() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "s")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen()
        with listener, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
