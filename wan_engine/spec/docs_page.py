"""Facts read from a provider's documentation page (markdown): its example bodies and its timing.

The AI/ML API's per-model pages show a code sample whose request body is a literal
dict, the printed answers of one run (Python reprs or JSON, one per line), and a
"Processing time: ~1 min 38 sec" line. Only these data are taken, never the code:
bodies and answers are facts about the protocol, and they are what the docs-example
tests replay (a documented answer nobody ran is how a job id was once lost).
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import attrs

_FENCE = re.compile(r"```([a-zA-Z0-9]*)\n(.*?)```", re.S)
_BODY_START = re.compile(r"(?:\bdata\s*=|\bjson\s*=|\bpayload\s*=|JSON\.stringify\()\s*\{")
_TIME = re.compile(r"Processing time\**:?\**\s*\\?~?\s*(?:(\d+(?:\.\d+)?)\s*min)?\s*(?:(\d+(?:\.\d+)?)\s*sec)?", re.I)


@attrs.frozen
class PageFacts:
    request_bodies: list[dict[str, Any]]
    """Every literal request body of the page's code samples (one per sample language, usually equal)."""
    responses: list[dict[str, Any]]
    """Every answer the page prints after a run (submit answer, completed status, ...), in page order."""
    processing_s: float | None
    """The run time the page reports, when it reports one."""


def _balanced(text: str, start: int) -> str | None:
    """The {...} that opens at ``start``, strings respected."""
    depth, quote, escaped = 0, "", False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'`":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
    return None


def _literal(text: str) -> Any:
    """A JSON or Python-literal dict (JavaScript bodies are JSON-like); None when it is neither."""
    for attempt in (text, re.sub(r",\s*([}\]])", r"\1", text)):
        try:
            return json.loads(attempt)
        except ValueError:
            pass
        try:
            return ast.literal_eval(attempt.replace("true", "True").replace("false", "False").replace("null", "None"))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    return None


def _bodies(code: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for match in _BODY_START.finditer(code):
        block = _balanced(code, match.end() - 1)
        value = _literal(block) if block else None
        if isinstance(value, dict) and "model" in value:
            found.append(value)
    return found


def _answers(block: str) -> list[dict[str, Any]]:
    """Dicts printed in a response block: whole-block JSON, or one repr per line (after any label)."""
    whole = _literal(block.strip())
    if isinstance(whole, dict):
        return [whole]
    found: list[dict[str, Any]] = []
    for line in block.splitlines():
        start = line.find("{")
        if start < 0:
            continue
        value = _literal(line[start:].strip())
        if isinstance(value, dict):
            found.append(value)
    return found


def _seconds(text: str) -> float | None:
    for match in _TIME.finditer(text):
        minutes, seconds = match.group(1), match.group(2)
        if minutes or seconds:
            return float(minutes or 0) * 60 + float(seconds or 0)
    return None


def read_page(text: str) -> PageFacts:
    """The example bodies, printed answers and processing time of one documentation page."""
    bodies: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for match in _FENCE.finditer(text):
        language, block = match.group(1).lower(), match.group(2)
        if language in ("python", "javascript", "js", "bash", "shell", "curl"):
            bodies.extend(_bodies(block))
        elif language in ("json", "json5", ""):
            answers.extend(a for a in _answers(block) if "status" in a or "error" in a or "id" in a)
    return PageFacts(bodies, answers, _seconds(text))
