"""Models through ``wan-engine generate --sandbox``, and every reviewed bundled model has a cassette.

Like test_models_all.py, nothing here names a model: a new spec file is generated end to end
from the command line (its first valid example as ``--params``) with no new test code. The
command runs in real time, so it runs on every hand-written or reviewed spec and on one
representative of each family of drafted specs (tests/support/spec_families.py); every spec is
run through the engine in-process by tests/spec/test_models_all.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.spec_families import is_drafted, representatives

from wan_engine.cli.main import cli
from wan_engine.spec.files import bundled_specs_dir
from wan_engine.spec.model import ModelSpec
from wan_engine.spec.registry import SpecRegistry

ROOT = Path(__file__).resolve().parents[2]
MODELS = SpecRegistry.discover().models()
SAMPLED = representatives(MODELS)
each_model = pytest.mark.parametrize("spec", MODELS, ids=[m.id for m in MODELS])


@pytest.mark.parametrize("spec", SAMPLED, ids=[m.id for m in SAMPLED])
def test_generate_runs_every_model_end_to_end_against_the_sandbox(spec: ModelSpec, tmp_path: Path) -> None:
    example = next(e for e in spec.document.examples if e.valid)
    params = tmp_path / "params.json"
    params.write_text(json.dumps(example.params))
    out = tmp_path / "videos"
    result = CliRunner().invoke(
        cli,
        ["generate", spec.id, "--params", str(params), "--sandbox", "--sandbox-duration", "0.05", "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    [video] = list(out.rglob("*.mp4"))
    sidecar = json.loads(video.with_name(video.name + ".json").read_text())
    assert sidecar["model"] == spec.id and sidecar["spec_version"] == spec.spec_version
    assert sidecar["sha256"] in result.output


@each_model
def test_every_bundled_model_has_a_recorded_cassette(spec: ModelSpec) -> None:
    if not Path(spec.document.source_file).resolve().is_relative_to(bundled_specs_dir().resolve()):
        pytest.skip("a spec from outside specs/: its cassettes live with it")
    if is_drafted(spec):
        pytest.skip("a drafted spec (not yet reviewed against its docs): a cassette comes with its review")
    recorded = list((ROOT / "cassettes" / spec.id).glob("*.yaml"))
    assert recorded, (
        f"no cassette for {spec.id}: record one with "
        f"`wan-engine record {spec.id} --params P.json --name sandbox-success --sandbox --cassettes cassettes`"
    )
