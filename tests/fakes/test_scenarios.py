"""Scenario files load and validate; a bad one is refused with file, path and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.scenarios import SCENARIO_DIR, ScenarioError, load_scenario, load_scenarios

LIBRARY = {
    "hello_write",
    "read_edit_bash",
    "long_running",
    "chatty",
    "burst",
    "tool_error",
    "model_500",
    "model_stall",
    "malformed_stream",
    "quick",
    "model_429",
    "dropped_connection",
    "never_ending",
}


def test_the_library_loads() -> None:
    scenarios = load_scenarios()
    assert set(scenarios) >= LIBRARY
    assert len(scenarios["chatty"].turns[0].chunks) == 200
    assert scenarios["model_500"].turns[0].fault == "http_status"


def test_past_the_script_the_model_repeats_its_last_answer() -> None:
    hello = load_scenarios()["hello_write"]
    assert hello.turn(5).text == "I wrote hello.txt."


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("id: bad\ndescription: d\nturns: []\n", "turns"),
        (
            "id: bad\ndescription: d\nturns:\n  - tool_calls: [{tool: rm, args: {}}]\n",
            "turns/0/tool_calls/0/tool",
        ),
        ("id: bad\ndescription: d\nturns:\n  - fault: {stall: -1}\n", "turns/0/fault"),
        ("id: other\ndescription: d\nturns:\n  - text: hi\n", "id"),
        ("id: bad\ndescription: d\nturns: [\n", "not YAML"),
    ],
)
def test_a_bad_file_is_refused_naming_file_path_and_reason(
    tmp_path: Path, text: str, where: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)
    assert where in str(caught.value)


def test_scenario_ids_match_file_names() -> None:
    for path in SCENARIO_DIR.glob("*.yaml"):
        assert load_scenario(path).id == path.stem


def test_the_sandbox_peer_writes_the_canary_the_security_suite_looks_for() -> None:
    from fakes.scenarios import load_scenarios
    from suites.security.test_bash_sandbox import PEER, PEER_CANARY

    [write] = load_scenarios()[PEER].turns[0].tool_calls
    assert PEER_CANARY in write.args["content"]


def test_tool_arguments_take_name_value_words_of_the_prompt() -> None:
    from fakes.scenarios import bindings_of, load_scenarios

    messages = [
        {"role": "system", "content": "peer=not-this-one"},
        {"role": "user", "content": [{"type": "text", "text": "Go. peer=abc-123"}]},
    ]
    turn = load_scenarios()["sandbox_links_peer"].turns[0].bound(bindings_of(messages))
    assert 'PEER="../abc-123"' in turn.tool_calls[0].args["command"]
    unbound = load_scenarios()["sandbox_links_peer"].turns[0].bound({})
    assert "{{peer}}" in unbound.tool_calls[0].args["command"]
