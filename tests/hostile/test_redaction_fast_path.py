"""The no-secret fast path of ``redact_document`` never lets a secret through, however it is spelled.

A hostile server may echo the key inside any string, as a key or a value, JSON-escaped
character by character (``\\u0073k-...``), next to quotes and non-ASCII text.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from wan_engine.redaction import PLACEHOLDER, redact_document

SECRETS = ["sk-test-0123456789abcdef", 'k"ey\\with-quotes-0123', "clé-é-ünïcode-0123456789"]

text = st.text(max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


def all_strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (k, *all_strings(v))]
    if isinstance(node, list):
        return [s for item in node for s in all_strings(item)]
    return []


@given(document=json_values, secret=st.sampled_from(SECRETS), prefix=text, suffix=text, as_key=st.booleans())
def test_an_echoed_secret_never_survives(
    document: object, secret: str, prefix: str, suffix: str, as_key: bool
) -> None:
    echoed = prefix + secret + suffix
    planted = {echoed: document} if as_key else {"message": echoed, "rest": document}
    # Through the wire as a hostile server might write it: every character \u-escaped.
    escaped = json.dumps(secret)[1:-1]
    wire = json.dumps(planted).replace(escaped, f"\\u{ord(secret[0]):04x}" + json.dumps(secret[1:])[1:-1])
    assert escaped not in wire
    parsed = json.loads(wire)
    redacted = redact_document(parsed, [secret])
    assert not any(secret in s for s in all_strings(redacted))
    assert any(PLACEHOLDER in s for s in all_strings(redacted))


@given(document=json_values)
def test_a_document_without_secrets_comes_back_as_the_same_object(document: object) -> None:
    clean = {"wrapper": document}
    if any(secret in s for s in all_strings(clean) for secret in SECRETS):
        return
    assert redact_document(clean, SECRETS) is clean
