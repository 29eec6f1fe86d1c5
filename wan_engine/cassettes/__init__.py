"""Recorded API sessions (cassettes): record, replay offline, and check against the specs.

- ``record_session`` / ``record_against_sandbox``: run one job through vcrpy
  into a scrubbed, labelled cassette;
- ``replay_engine``: an engine answering from a cassette, no network, virtual
  time; ``replay_session`` replays the recorded job end to end;
- ``check_cassette`` / ``check_paths``: every interaction against the spec,
  each breach named by cassette, interaction and JSON path.
"""

from wan_engine.cassettes.contract import (
    Breach,
    ContractReport,
    assert_cassette_keeps_contract,
    check_cassette,
    check_paths,
)
from wan_engine.cassettes.provenance import SOURCES, CassetteOrigin
from wan_engine.cassettes.recording import Recording, record_against_sandbox, record_session
from wan_engine.cassettes.replay import CassetteReplay, replay_engine, replay_session
from wan_engine.cassettes.serializer import CassetteDocument, read_cassette
from wan_engine.cassettes.session import SessionOutcome, run_session
from wan_engine.errors import CassetteMismatchError, RecordingError, SourceError

__all__ = [
    "SOURCES",
    "Breach",
    "CassetteDocument",
    "CassetteMismatchError",
    "CassetteOrigin",
    "CassetteReplay",
    "ContractReport",
    "Recording",
    "RecordingError",
    "SessionOutcome",
    "SourceError",
    "assert_cassette_keeps_contract",
    "check_cassette",
    "check_paths",
    "read_cassette",
    "record_against_sandbox",
    "record_session",
    "replay_engine",
    "replay_session",
    "run_session",
]
