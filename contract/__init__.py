"""The opencode-sidecar contract, as data that code loads.

* ``openapi.yaml``: the REST + SSE API (OpenAPI 3.1); each response names its
  ``x-outcome`` so code asks for "the status of *duplicate*" instead of 409.
* ``events/*.json``: one JSON Schema per SSE event's data.
* ``stream.yaml`` + ``STREAM_RULES.md``: the stream rules (data + prose).
* ``stream.yaml``'s ``retention:``: how long a finished session stays readable.
* ``stream.yaml``'s ``soak:``: bounds of the disconnect-hygiene (``SOAK-*``) clauses.
* ``clauses.yaml``: every rule with a stable id, level and source.
* ``profiles.yaml``: conformance profiles, each a group of clause areas a sidecar claims.
* ``tools.yaml``: the agent's tools (parameters, semantics, the one success and error
  result shape, bash bounds); ``events/tool_result.json`` follows it.
* ``model.yaml``: what a sidecar sends to a session's model, per provider.
* ``project_fixture.yaml``: the fixture project of the ``project`` profile.
* ``asyncapi.yaml``: both event channels (SSE and WebSocket) as AsyncAPI 3.0; its
  payloads ``$ref`` ``events/*.json``.

Nothing else in the project restates status codes, field names or event types.
"""

from contract._catalogue import (
    Catalogue,
    CatalogueError,
    Clause,
    Level,
    UnknownClauseError,
    load_catalogue,
)
from contract._files import (
    ASYNCAPI_PATH,
    ASYNCAPI_SCHEMA_PATH,
    CLAUSES_PATH,
    CONTRACT_DIR,
    EVENTS_DIR,
    MODEL_PATH,
    OPENAPI_PATH,
    PROFILES_PATH,
    STREAM_PATH,
    STREAM_RULES_DOC,
    TOOLS_PATH,
    load_asyncapi,
    load_openapi,
    parse_yaml,
)
from contract._metrics import (
    MetricFamily,
    metric_families,
    metric_family,
    profile_metric_families,
    request_id_pattern,
)
from contract._model import (
    ProviderRules,
    WireFormat,
    model_failure_codes,
    provider_rules,
    providers,
    wire_format,
)
from contract._openapi import (
    UUID_PATTERN,
    Operation,
    operation,
    operations,
    resolved_component,
    response_header_schemas,
    response_schema,
    status_for,
)
from contract._profiles import Profile, ProfileError, Profiles, load_profiles
from contract._project import FixtureCommit, ProjectFixture, project_fixture
from contract._refusals import (
    CLIENT_ERRORS,
    MALFORMED_OUTCOMES,
    rejection_statuses,
    server_error_statuses,
    valid_request_outcomes,
    valid_request_statuses,
)
from contract._retention import RetentionRules, retention_rules
from contract._schemas import (
    Violation,
    component_validator,
    event_fields,
    event_validator,
    validate_component,
    validate_event,
    validate_ws_frame,
    ws_frame_validator,
)
from contract._soak import SoakRules, soak_rules
from contract._stream import StreamRules, TerminalRule, WebSocketRules, stream_rules
from contract._tools import BashLimits, SandboxPaths, ToolContract, ToolSpec, tool_contract

__all__ = [
    "ASYNCAPI_PATH",
    "ASYNCAPI_SCHEMA_PATH",
    "CLAUSES_PATH",
    "CLIENT_ERRORS",
    "CONTRACT_DIR",
    "EVENTS_DIR",
    "MALFORMED_OUTCOMES",
    "MODEL_PATH",
    "OPENAPI_PATH",
    "PROFILES_PATH",
    "STREAM_PATH",
    "STREAM_RULES_DOC",
    "TOOLS_PATH",
    "UUID_PATTERN",
    "BashLimits",
    "Catalogue",
    "CatalogueError",
    "Clause",
    "FixtureCommit",
    "Level",
    "MetricFamily",
    "Operation",
    "Profile",
    "ProfileError",
    "Profiles",
    "ProjectFixture",
    "ProviderRules",
    "RetentionRules",
    "SandboxPaths",
    "SoakRules",
    "StreamRules",
    "TerminalRule",
    "ToolContract",
    "ToolSpec",
    "UnknownClauseError",
    "Violation",
    "WebSocketRules",
    "WireFormat",
    "component_validator",
    "event_fields",
    "event_validator",
    "load_asyncapi",
    "load_catalogue",
    "load_openapi",
    "load_profiles",
    "metric_families",
    "metric_family",
    "model_failure_codes",
    "operation",
    "operations",
    "parse_yaml",
    "profile_metric_families",
    "project_fixture",
    "provider_rules",
    "providers",
    "rejection_statuses",
    "request_id_pattern",
    "resolved_component",
    "response_header_schemas",
    "response_schema",
    "retention_rules",
    "server_error_statuses",
    "soak_rules",
    "status_for",
    "stream_rules",
    "tool_contract",
    "valid_request_outcomes",
    "valid_request_statuses",
    "validate_component",
    "validate_event",
    "validate_ws_frame",
    "wire_format",
    "ws_frame_validator",
]
