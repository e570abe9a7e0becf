"""The strict SSE parser follows the WHATWG rules and reports violations."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from suites.clientkit.sse import SSEParser, iter_events_sync


def parse(raw: bytes) -> tuple[list[tuple[str, str, str | None]], SSEParser]:
    parser = SSEParser()
    events = [(e.event, e.data, e.id) for e in iter_events_sync([raw], parser)]
    return events, parser


def test_spec_stock_example_joins_data_lines() -> None:
    events, _ = parse(b"data: YHOO\ndata: +2\ndata: 10\n\n")
    assert events == [("message", "YHOO\n+2\n10", None)]


def test_spec_example_last_block_without_blank_line_is_discarded() -> None:
    raw = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n"
    events, parser = parse(raw)
    assert events == [("message", "first event", "1"), ("message", "second event", "")]
    assert [c.text for c in parser.comments] == ["test stream"]
    assert [v.code for v in parser.violations] == ["incomplete-event-at-eof"]


def test_spec_example_data_space_handling() -> None:
    events, _ = parse(b"data\n\ndata\ndata\n\ndata:\n")
    assert events == [("message", "", None), ("message", "\n", None)]
    events, _ = parse(b"data:test\n\ndata: test\n\n")
    assert events == [("message", "test", None), ("message", "test", None)]


def test_line_endings_cr_crlf_lf_and_bom() -> None:
    for sep in (b"\n", b"\r\n", b"\r"):
        raw = b"\xef\xbb\xbfevent: a" + sep + b"id: 7" + sep + b"data: x" + sep + sep
        events, parser = parse(raw)
        assert events == [("a", "x", "7")], sep
        assert parser.last_event_id == "7"


def test_every_split_point_gives_the_same_events() -> None:
    raw = "retry: 10\r\n: hi\r\nevent: é\rid: 3\ndata: a\r\ndata: b\r\r\n\nevent: z\ndata: q\n\n".encode()
    expected, _ = parse(raw)
    for cut in range(len(raw) + 1):
        parser = SSEParser()
        got = [(e.event, e.data, e.id) for e in iter_events_sync([raw[:cut], raw[cut:]], parser)]
        assert got == expected, cut


def test_null_in_id_is_ignored_and_reported() -> None:
    events, parser = parse(b"id: 1\x00\ndata: x\n\n")
    assert events == [("message", "x", None)]
    assert parser.violations[0].code == "id-contains-null"


def test_retry_must_be_digits() -> None:
    _, parser = parse(b"retry: 3s\n\nretry: 500\n\n")
    assert parser.retry == 500
    assert [v.code for v in parser.violations] == ["retry-not-digits"]


def test_event_without_data_is_not_dispatched_and_reported() -> None:
    events, parser = parse(b"event: note\n\ndata: y\n\n")
    assert events == [("message", "y", None)]
    assert parser.violations[0].code == "event-without-data"


def test_invalid_utf8_and_unknown_fields_are_reported() -> None:
    events, parser = parse(b"data: \xff\nfoo: bar\n\n")
    assert events[0][1] == "\ufffd"
    assert {v.code for v in parser.violations} == {"invalid-utf8", "unknown-field"}


def test_event_dispatched_as_soon_as_its_blank_line_arrives() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert [e.data for e in parser.feed(b"\n")] == ["a"]


def test_second_bom_is_not_stripped() -> None:
    events, _ = parse(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n")
    assert events == []  # the field name is "\ufeffdata": unknown


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"))


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
            st.integers(1, 10**6),
            st.lists(_text, min_size=1, max_size=3),
        ),
        max_size=6,
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.integers(0, 10_000),
)
def test_round_trip(events: list[tuple[str, int, list[str]]], sep: str, cut_seed: int) -> None:
    raw = "".join(
        f"event: {name}{sep}id: {ident}{sep}"
        + "".join(f"data: {line}{sep}" for line in lines)
        + sep
        for name, ident, lines in events
    ).encode()
    cut = cut_seed % (len(raw) + 1)
    parser = SSEParser()
    got = [(e.event, e.id, e.data) for e in iter_events_sync([raw[:cut], raw[cut:]], parser)]
    assert got == [(n, str(i), "\n".join(lines)) for n, i, lines in events]
    assert parser.violations == []
