"""Check what a test observed on the wire against protocol/schemas."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[1] / "protocol" / "schemas"


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_valid(schema: str, document: Any) -> None:
    """Fail with every violation listed when `document` breaks `schema` (a file in protocol/schemas)."""
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in _validator(schema).iter_errors(document)]
    assert not errors, f"{schema}:\n" + "\n".join(errors)
