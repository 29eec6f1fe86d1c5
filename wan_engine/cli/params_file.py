"""Reading a parameters file (``validate``, ``record``, ``generate --params``) with one-line errors.

A missing, unreadable or malformed file is the most common first mistake;
each case says which file and what to do, instead of a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click


def read_params(source: str) -> dict[str, Any]:
    """The JSON object in ``source`` (``-``: stdin); a ``click.UsageError``-free ``ClickException`` otherwise."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise click.ClickException(f"params file {source} does not exist: check the path") from None
    except IsADirectoryError:
        raise click.ClickException(f"params file {source} is a folder: name a JSON file") from None
    except PermissionError:
        raise click.ClickException(f"params file {source} is not readable: check its permissions") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"params file {source} cannot be read ({exc})") from None
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"params file {source} is not JSON ({exc}): fix the file") from None
    if not isinstance(params, dict):
        raise click.ClickException(f"params file {source} must hold a JSON object of parameters")
    return params
