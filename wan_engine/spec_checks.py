"""What the meta-schema cannot check about a model: cross-references and examples."""

from __future__ import annotations

from wan_engine.errors import Problem
from wan_engine.params import violations, with_defaults
from wan_engine.request_body import placed_parameters, template_variables
from wan_engine.spec_model import ModelSpec

KNOWN_VARIABLES = {"model"}


def model_problems(spec: ModelSpec) -> list[Problem]:
    problems: list[Problem] = []
    names = set(spec.parameters.get("properties", {}))
    body = spec.submit_endpoint.body
    body_path = "$.submit.body" if spec.document.submit.body is not None else f"{spec.provider.source_file}: $.submit.body"
    for missing in sorted(placed_parameters(body) - names):
        problems.append(Problem(body_path, f"places parameter {missing!r}, which $.parameters does not define"))
    for unknown in sorted(template_variables(body) - KNOWN_VARIABLES):
        problems.append(Problem(body_path, f"uses unknown variable {unknown!r} (known: {', '.join(sorted(KNOWN_VARIABLES))})"))
    for index, example in enumerate(spec.document.examples):
        found = violations(spec.validator, with_defaults(spec.parameters, example.params))
        where = f"$.examples[{index}].params"
        if example.valid and found:
            problems.extend(Problem(where + p.path[1:], f"example {example.name!r} is marked valid but {p.message}") for p in found)
        if not example.valid and not found:
            problems.append(Problem(where, f"example {example.name!r} is marked invalid but the parameter schema accepts it"))
    return problems
