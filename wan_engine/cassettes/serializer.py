"""The cassette file format: vcrpy's YAML with a ``wan_engine:`` provenance block on top.

``CassetteSerializer`` is registered on each VCR instance the harness makes
(``register_serializer``); it writes the block when recording and drops it when
vcrpy loads a cassette, so replay sees a plain vcrpy cassette. It uses vcrpy's
own safe YAML loader and dumper, so a cassette cannot smuggle in Python objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import attrs
import vcr
import yaml
from vcr.serializers import yamlserializer

from wan_engine.cassettes.provenance import PROVENANCE_KEY, CassetteOrigin
from wan_engine.errors import CassetteFormatError

SERIALIZER_NAME: Final = "wan-engine-yaml"
CASSETTE_SUFFIXES: Final = (".yaml", ".yml")


class CassetteSerializer:
    def __init__(self, provenance: CassetteOrigin | None = None) -> None:
        self.provenance = provenance

    def serialize(self, cassette_dict: dict[str, Any]) -> str:
        data: dict[str, Any] = {}
        if self.provenance is not None:
            data[PROVENANCE_KEY] = self.provenance.to_dict()
        data.update(cassette_dict)
        return dump_yaml(data)

    def deserialize(self, text: str) -> Any:
        data = load_yaml(text)
        if isinstance(data, dict):
            data.pop(PROVENANCE_KEY, None)
        return data


def dump_yaml(data: Any) -> str:
    return str(
        yaml.dump(data, Dumper=yamlserializer._CassetteDumper, sort_keys=False, allow_unicode=True, width=120)
    )


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=yamlserializer._CassetteLoader)


def harness_vcr(provenance: CassetteOrigin | None = None, **options: Any) -> Any:
    """A VCR instance that reads and writes the harness's cassette format."""
    instance = vcr.VCR(serializer=SERIALIZER_NAME, **options)
    instance.register_serializer(SERIALIZER_NAME, CassetteSerializer(provenance))
    return instance


@attrs.define
class CassetteDocument:
    """A cassette file as data: its provenance (if any) and its interactions, untouched."""

    path: str
    raw: dict[str, Any]

    @property
    def provenance_block(self) -> Any:
        return self.raw.get(PROVENANCE_KEY)

    @property
    def provenance(self) -> CassetteOrigin:
        return CassetteOrigin.from_dict(self.provenance_block)

    @property
    def interactions(self) -> list[Any]:
        found = self.raw.get("interactions")
        return found if isinstance(found, list) else []


def read_cassette(path: str | Path) -> CassetteDocument:
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise CassetteFormatError(f"{path}: not a YAML cassette: {exc}") from None
    if not isinstance(data, dict):
        raise CassetteFormatError(f"{path}: not a cassette (the top level is not a mapping)")
    return CassetteDocument(str(path), data)


def write_cassette(document: CassetteDocument, path: str | Path | None = None) -> None:
    Path(path or document.path).write_text(dump_yaml(document.raw), encoding="utf-8")


def cassette_files(paths: list[Path]) -> list[Path]:
    """Every cassette file named or below a named folder, sorted, each once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in CASSETTE_SUFFIXES and p.is_file())
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path, None)
    return list(unique)
