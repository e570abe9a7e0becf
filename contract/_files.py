"""Where the contract's data files are, and cached loading of them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONTRACT_DIR = Path(__file__).resolve().parent
OPENAPI_PATH = CONTRACT_DIR / "openapi.yaml"
EVENTS_DIR = CONTRACT_DIR / "events"
CLAUSES_PATH = CONTRACT_DIR / "clauses.yaml"
PROFILES_PATH = CONTRACT_DIR / "profiles.yaml"
STREAM_PATH = CONTRACT_DIR / "stream.yaml"
STREAM_RULES_DOC = CONTRACT_DIR / "STREAM_RULES.md"
TOOLS_PATH = CONTRACT_DIR / "tools.yaml"
MODEL_PATH = CONTRACT_DIR / "model.yaml"
ASYNCAPI_PATH = CONTRACT_DIR / "asyncapi.yaml"
ASYNCAPI_SCHEMA_PATH = CONTRACT_DIR / "vendor" / "asyncapi-specs" / "3.0.0.json"
"""The official AsyncAPI 3.0.0 JSON Schema (npm ``@asyncapi/specs``, Apache-2.0), vendored."""


def parse_yaml(text: str) -> Any:
    """YAML through libyaml when PyYAML has it (about 10x faster than the pure-Python
    parser: every verify run and every server start loads the contract)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


@cache
def load_data(path: Path) -> Any:
    """Parse a YAML or JSON file of the contract (cached; treat the result as read-only)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    return parse_yaml(text)


def load_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document as a dict (cached; do not mutate)."""
    doc: dict[str, Any] = load_data(OPENAPI_PATH)
    return doc


def load_asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of both streams as a dict (cached; do not mutate)."""
    doc: dict[str, Any] = load_data(ASYNCAPI_PATH)
    return doc
