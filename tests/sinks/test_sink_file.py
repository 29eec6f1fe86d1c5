"""The file sink: safe paths under its root, no partial or overwritten file, a provenance sidecar."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import aiohttp
import pytest

from wan_engine.clock import VirtualClock
from wan_engine.errors import PathTemplateError, SinkError
from wan_engine.sinks import DeliverySummary, Provenance, SinkContext, sink_from_name
from wan_engine.sinks.file import FileSink
from wan_engine.sinks.path_template import check_template, distinct_fragment, render, resolve_under, safe_fragment

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
DATA = b"\x00\x00\x00\x18ftypmp42" + os.urandom(100_000)


def provenance(job_id: str = "job-123", model: str = "alibaba/wan-2-7-r2v") -> Provenance:
    return Provenance(
        job_id=job_id,
        model=model,
        spec_version="1",
        source_url="https://cdn.example/v/abc.mp4?X-Amz-Signature=topsecret&token=hunter2",
        delivered_at=WHEN,
        parameters={"prompt": "a cat", "duration": 5},
        timings={"submitted_at": 1.0, "completed_at": 61.0, "waited_s": 60.0, "polls": 7},
    )


def context(http: aiohttp.ClientSession, prov: Provenance | None = None) -> SinkContext:
    return SinkContext(prov or provenance(), "mp4", "video/mp4", len(DATA), VirtualClock(), http)


def summary(prov: Provenance | None = None) -> DeliverySummary:
    return DeliverySummary(prov or provenance(), len(DATA), hashlib.sha256(DATA).hexdigest(), "video/mp4")


def read_bytes(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def is_inside(path: str | Path, root: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


async def deliver_bytes(sink: FileSink, http: aiohttp.ClientSession, prov: Provenance | None = None) -> str:
    writer = await sink.open(context(http, prov))
    for start in range(0, len(DATA), 30_000):
        await writer.write(DATA[start : start + 30_000])
    return await writer.commit(summary(prov))


async def test_writes_the_video_and_a_provenance_sidecar(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    sink = sink_from_name("file", root=tmp_path)
    assert isinstance(sink, FileSink)
    location = await deliver_bytes(sink, http)
    path = Path(location)
    assert path == tmp_path / "alibaba_wan-2-7-r2v" / "2026-03-04" / "job-123.mp4"
    assert read_bytes(path) == DATA
    sidecar = json.loads(path.with_name("job-123.mp4.json").read_text())
    assert sidecar["job_id"] == "job-123"
    assert sidecar["model"] == "alibaba/wan-2-7-r2v"
    assert sidecar["spec_version"] == "1"
    assert sidecar["parameters"] == {"prompt": "a cat", "duration": 5}
    assert sidecar["timings"]["polls"] == 7
    assert sidecar["size"] == len(DATA)
    assert sidecar["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert sidecar["source_url"] == "https://cdn.example/v/abc.mp4"
    assert "topsecret" not in path.with_name("job-123.mp4.json").read_text()
    assert files_under(tmp_path) == [
        "alibaba_wan-2-7-r2v/2026-03-04/job-123.mp4",
        "alibaba_wan-2-7-r2v/2026-03-04/job-123.mp4.json",
    ]


async def test_nothing_is_visible_until_commit(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    sink = FileSink(tmp_path, template="{id}.{ext}")
    writer = await sink.open(context(http))
    await writer.write(DATA[:1000])
    assert not (tmp_path / "job-123.mp4").exists()
    assert all(name.startswith(".job-123.mp4.") for name in files_under(tmp_path)), "only a hidden temp file"
    await writer.abort()
    assert files_under(tmp_path) == []


async def test_never_overwrites_without_overwrite_true(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    (tmp_path / "job-123.mp4").write_bytes(b"precious")
    with pytest.raises(SinkError, match="exists"):
        await FileSink(tmp_path, template="{id}.{ext}").open(context(http))
    assert (tmp_path / "job-123.mp4").read_bytes() == b"precious"
    assert files_under(tmp_path) == ["job-123.mp4"], "refused before a temp file was made"

    await deliver_bytes(FileSink(tmp_path, template="{id}.{ext}", overwrite=True), http)
    assert (tmp_path / "job-123.mp4").read_bytes() == DATA


async def test_a_file_appearing_during_the_download_is_not_overwritten(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    writer = await FileSink(tmp_path, template="{id}.{ext}").open(context(http))
    await writer.write(DATA)
    (tmp_path / "job-123.mp4").write_bytes(b"someone else's")
    with pytest.raises(SinkError, match="could not write"):
        await writer.commit(summary())
    await writer.abort()
    assert (tmp_path / "job-123.mp4").read_bytes() == b"someone else's"
    assert files_under(tmp_path) == ["job-123.mp4"]


async def test_abort_after_commit_removes_the_video_and_sidecar(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    writer = await FileSink(tmp_path, template="{id}.{ext}").open(context(http))
    await writer.write(DATA)
    await writer.commit(summary())
    await writer.abort()
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    "template",
    [
        "../{id}.{ext}",
        "/tmp/{id}.{ext}",
        "a/../../{id}.{ext}",
        "a//{id}",
        "./{id}",
        "C:/videos/{id}",
        "a\\..\\{id}",
        "{id.__class__}",
        "{id!r}",
        "{id:>300}",
        "{secret}",
        "",
    ],
)
def test_templates_that_could_escape_are_rejected(tmp_path: Path, template: str) -> None:
    with pytest.raises(PathTemplateError):
        FileSink(tmp_path, template=template)


@pytest.mark.parametrize(
    ("job_id", "model"),
    [("../../../etc/passwd", "x"), ("..", ".."), ("a/b\\c", "/abs/model"), ("id\x00null", "m"), ("", "")],
)
async def test_hostile_values_stay_inside_the_root(
    tmp_path: Path, http: aiohttp.ClientSession, job_id: str, model: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    location = await deliver_bytes(FileSink(root), http, provenance(job_id, model))
    assert is_inside(location, root)
    assert len(PurePosixPath(Path(location).relative_to(root)).parts) == 3
    assert files_under(tmp_path) == [f"root/{name}" for name in files_under(root)]


async def test_a_symlinked_folder_leading_out_is_refused(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "alibaba_wan-2-7-r2v").symlink_to(outside)
    with pytest.raises(SinkError, match="outside"):
        await FileSink(root).open(context(http))
    assert list(outside.iterdir()) == [], "nothing was created through the link"


async def test_a_symlink_in_place_of_the_file_is_refused(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "job-123.mp4").symlink_to(tmp_path / "target.mp4")
    with pytest.raises(SinkError, match="symlink"):
        await FileSink(root, template="{id}.{ext}", overwrite=True).open(context(http))
    assert not (tmp_path / "target.mp4").exists()


async def test_no_symlink_under_the_root_is_followed(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """Even one that stays inside: a link checked now could point elsewhere a moment later."""
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    with pytest.raises(SinkError, match="symlink"):
        await deliver_bytes(FileSink(tmp_path, template="alias/{id}.{ext}"), http)
    assert list((tmp_path / "real").iterdir()) == []


async def test_a_root_that_is_a_symlink_is_the_users_choice(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    await deliver_bytes(FileSink(tmp_path / "link", template="{id}.{ext}"), http)
    assert read_bytes(tmp_path / "real" / "job-123.mp4") == DATA


async def test_a_folder_swapped_for_a_symlink_during_delivery_cannot_lead_outside(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """The folder is held by a handle from open() on: the swap changes names, not where bytes go."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    writer = await FileSink(root, template="{model}/{id}.{ext}").open(context(http))
    await writer.write(DATA[:50_000])
    folder = root / "alibaba_wan-2-7-r2v"
    folder.rename(root / "moved-away")
    folder.symlink_to(outside)  # what an attacker with write access to the root would do mid-download
    await writer.write(DATA[50_000:])
    await writer.commit(summary())
    assert list(outside.iterdir()) == [], "nothing was written through the link"
    assert read_bytes(root / "moved-away" / "job-123.mp4") == DATA
    assert (root / "moved-away" / "job-123.mp4.json").exists()


async def test_a_swap_before_abort_removes_nothing_outside(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    writer = await FileSink(root, template="{model}/{id}.{ext}").open(context(http))
    await writer.write(DATA)
    await writer.commit(summary())
    folder = root / "alibaba_wan-2-7-r2v"
    folder.rename(root / "moved-away")
    folder.symlink_to(outside)
    (outside / "job-123.mp4").write_bytes(b"someone else's file of the same name")
    await writer.abort()  # a later sink failed: undo the commit, through the handle
    assert (outside / "job-123.mp4").read_bytes() == b"someone else's file of the same name"
    assert files_under(root / "moved-away") == []


@pytest.mark.parametrize("overwrite", [False, True])
async def test_ids_that_sanitise_alike_get_distinct_files(
    tmp_path: Path, http: aiohttp.ClientSession, overwrite: bool
) -> None:
    ids = ["a/b", "a_b", "a:b", "a b", ".a_b", "a_b-" + "0" * 16]
    sink = FileSink(tmp_path, template="{id}.{ext}", overwrite=overwrite)
    locations = [await deliver_bytes(sink, http, provenance(job_id)) for job_id in ids]
    assert len(set(locations)) == len(ids)
    assert len([name for name in files_under(tmp_path) if name.endswith(".mp4")]) == len(ids)
    sidecars = {json.loads(read_bytes(f"{location}.json"))["job_id"] for location in locations}
    assert sidecars == set(ids)
    assert Path(locations[1]).name == "a_b.mp4", "an id that needs no sanitising keeps its plain name"


def test_distinct_fragment_is_injective_on_collision_classes() -> None:
    values = ["x", "x/", "x_", "x-" + "a" * 16, "x-" + "b" * 16, "", ".", "..", "a" * 300, "a" * 301]
    fragments = [distinct_fragment(v) for v in values]
    assert len(set(fragments)) == len(values)
    assert all(safe_fragment(f) == f and len(f) <= 200 for f in fragments)


async def test_a_missing_root_fails_before_any_byte(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    with pytest.raises(SinkError, match="does not exist"):
        await FileSink(tmp_path / "nope").open(context(http))


def test_safe_fragments_and_rendering() -> None:
    assert safe_fragment("alibaba/wan-2-7-r2v") == "alibaba_wan-2-7-r2v"
    assert safe_fragment("..") == "_"
    assert safe_fragment(".hidden") == "hidden"
    assert safe_fragment("") == "_"
    assert safe_fragment("a" * 500) == "a" * 200
    assert check_template("{model}/{date}/{id}.{ext}") == "{model}/{date}/{id}.{ext}"
    assert render("{model}/{id}.{ext}", {"model": "a/b", "id": "../x", "ext": "mp4"}) == PurePosixPath("a_b/x.mp4")


def test_resolve_under_refuses_a_file_where_a_folder_is_needed(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("file")
    with pytest.raises(PathTemplateError, match="not a folder"):
        resolve_under(tmp_path, PurePosixPath("a/b.mp4"))


async def test_temporary_files_left_by_a_killed_process_are_cleared(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    sink = FileSink(tmp_path, template="{id}.{ext}")
    orphan = tmp_path / ".job-123.mp4.abc123.part"  # what a SIGKILL mid-download leaves behind
    orphan.write_bytes(b"half a video")
    unrelated = tmp_path / ".other-job.mp4.abc123.part"
    unrelated.write_bytes(b"someone else's")
    await deliver_bytes(sink, http)
    assert not orphan.exists() and unrelated.exists()
    assert read_bytes(tmp_path / "job-123.mp4") == DATA


def test_concurrent_deliveries_may_race_to_create_the_same_folder(tmp_path: Path) -> None:
    """Two jobs finishing together both create {model}/{date}: the loser of that race must not fail."""
    import threading

    from wan_engine.sinks.path_template import resolve_under

    relative = PurePosixPath("model/2026-11-25/job.mp4")
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def deliver(i: int) -> None:
        barrier.wait()
        try:
            resolve_under(tmp_path, relative.with_name(f"job-{i}.mp4"))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and (tmp_path / "model" / "2026-11-25").is_dir()
