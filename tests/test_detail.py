import json
from datetime import UTC, datetime

import pytest

from events.detail import (
    FREE_TEXT_LIMIT,
    SHORT_TEXT_LIMIT,
    NotAnEvent,
    parse_event_detail,
    parse_timestamp,
)
from tests.conftest import event_from, payload


def test_it_reads_every_documented_field():
    detail = event_from("sms_delivered.json")
    assert detail.event_type == "SmsSent"
    assert detail.secondary_event_type == "FollowUp"
    assert detail.event_category == "Messaging"
    assert detail.timeline_category == "Outreach"
    assert detail.conversation_id == "conv-7f3a9c"
    assert detail.direction == "Outbound"
    assert detail.from_phone_number_id == "pn-01HF3K"
    assert detail.outbound_phone_number_id == "pn-01HF3K"
    assert detail.from_phone_number == "+14155550132"
    assert detail.to_phone_number == "+442079460958"
    assert detail.provider_message_id == "40317f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    assert detail.user_id == "usr-42"
    assert detail.lead_id == "lead-9b21"
    assert detail.sending_started_at.value == datetime(2026, 11, 26, 14, 2, 11, 250000, tzinfo=UTC)
    assert detail.created_at.value.tzinfo is not None
    assert detail.problems == ()


def test_it_accepts_activity_type_and_category_as_aliases():
    detail = event_from("alias_fields.json")
    assert detail.timeline_type == "Voicemail"
    assert detail.timeline_category == "Calls"


def test_it_prefers_timeline_type_when_both_spellings_are_present():
    detail = event_from("alias_fields.json", timelineType="Call")
    assert detail.timeline_type == "Call"


def test_it_treats_a_missing_status_as_unknown():
    data = payload("sms_delivered.json")
    del data["status"]
    assert parse_event_detail(data, requested_id="x").status is None


def test_it_keeps_unknown_enum_values_as_received():
    detail = event_from("wrong_types.json")
    assert detail.status == "Throttled"
    assert detail.timeline_type == "Fax"


def test_it_degrades_wrongly_typed_fields_instead_of_failing():
    detail = event_from("wrong_types.json")
    assert detail.summary == "42"
    assert detail.description is None
    assert detail.user is None
    assert detail.direction is None
    assert {"description", "user", "direction", "sentAt", "createdAt"} <= set(detail.problems)
    # .NET's DateTime.MinValue: a time never set, not a wrongly typed one.
    assert detail.delivered_at is None


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_status_of_nan_or_infinity_is_no_status_and_said_so(number):
    detail = event_from("sms_delivered.json", status=number)
    assert detail.status is None
    assert "status" in detail.problems


def test_it_keeps_unparseable_timestamps_raw_and_marked():
    detail = event_from("wrong_types.json")
    assert detail.created_at.raw == "yesterday-ish"
    assert detail.created_at.value is None
    assert detail.sent_at.raw == "1700000000"
    assert not detail.sent_at.is_valid


def test_it_pretty_prints_a_full_payload_json_string():
    detail = event_from("wrong_types.json")
    assert json.loads(detail.full_payload) == {"carrier": {"name": "Telnyx", "hops": [1, 2]}}
    assert "\n  " in detail.full_payload


def test_it_shows_a_full_payload_that_is_not_json_as_received():
    detail = event_from("null_heavy.json", fullPayload="plain text <b>")
    assert detail.full_payload == "plain text <b>"


def test_it_falls_back_to_the_requested_id_when_the_payload_has_none():
    data = payload("null_heavy.json")
    del data["id"]
    assert parse_event_detail(data, requested_id="asked-for").id == "asked-for"


def test_it_tells_an_answer_for_another_event_from_one_in_another_case():
    data = {**payload("null_heavy.json"), "id": "EVT-AB12"}
    assert parse_event_detail(data, requested_id="evt-ab12").answers_asked_id
    assert not parse_event_detail(data, requested_id="evt-ab13").answers_asked_id


@pytest.mark.parametrize(
    "unset",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00.0000000+00:00",
        "9999-12-31T23:59:59.9999999Z",
        # A DateTime of Kind Local, as Newtonsoft writes it; a date alone; a blank for "T".
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59.9999999-05:00",
        "0001-01-01",
        "0001-01-01 00:00:00",
        # A zero Unix timestamp, written out.
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00.000+00:00",
    ],
)
def test_the_placeholders_of_a_time_never_set_read_as_absent(unset):
    detail = event_from("sms_delivered.json", deliveredAt=unset, failedAt="0001-01-01T00:00:00")
    assert detail.delivered_at is None
    assert detail.failed_at is None
    assert "deliveredAt" not in detail.problems
    assert json.loads(detail.raw_json)["deliveredAt"] == unset


def test_it_keeps_the_raw_json_as_received():
    detail = event_from("sms_delivered.json")
    assert json.loads(detail.raw_json) == payload("sms_delivered.json")


def test_it_refuses_a_payload_that_is_not_an_object():
    with pytest.raises(TypeError):
        parse_event_detail(["a"], requested_id="x")


def test_it_reads_a_user_without_a_name():
    detail = event_from("null_heavy.json", user={"id": "u1", "name": None})
    assert detail.user.id == "u1"
    assert detail.user.name is None


def test_it_treats_blank_strings_as_absent():
    assert event_from("null_heavy.json", status="  ").status is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-07T05:31:56Z", datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)),
        ("2023-11-07T05:31:56.1234567Z", datetime(2023, 11, 7, 5, 31, 56, 123456, tzinfo=UTC)),
        ("2023-11-07T07:31:56+02:00", datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)),
        ("2023-11-07T05:31:56", datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)),
        # RFC 3339 allows lower case.
        ("2023-11-07t05:31:56z", datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)),
        (" 2023-11-07T05:31:56z ", datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)),
        ("0001-01-01T00:00:00", None),
        ("9999-12-31T23:59:59Z", None),
        ("yesterday", None),
        ("", None),
        ("2023-11-07T05:31:56Z" + " " * 100, None),
    ],
)
def test_it_parses_timestamps_to_aware_utc_or_none(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"id": None, "eventType": None, "status": None, "createdAt": None, "user": None},
        {"status": 500, "title": "oops", "detail": "bad"},
        {"type": "about:blank", "status": 404, "title": "Not Found"},
    ],
)
def test_it_refuses_an_object_with_none_of_an_events_fields(data):
    with pytest.raises(NotAnEvent):
        parse_event_detail(data, requested_id="x")


@pytest.mark.parametrize(
    "data", [{"id": "evt-1"}, {"status": "Completed"}, {"createdAt": "2026-11-27T10:00:00Z"}]
)
def test_it_reads_an_object_with_one_of_an_events_fields(data):
    assert parse_event_detail(data, requested_id="evt-1").id == "evt-1"


def test_it_cuts_a_very_long_text_and_says_so():
    detail = event_from("sms_delivered.json", description="A" * 1_048_576, eventType="T" * 5_000)
    assert detail.description.startswith("A" * FREE_TEXT_LIMIT + "…")
    assert detail.description.endswith(
        "[cut at 10,000 of 1,048,576 characters; the raw JSON has the whole text]"
    )
    assert len(detail.event_type) < SHORT_TEXT_LIMIT + 100
    assert "A" * 1_048_576 in detail.raw_json


def test_it_keeps_a_text_up_to_the_limit_whole():
    detail = event_from("sms_delivered.json", summary="B" * FREE_TEXT_LIMIT)
    assert detail.summary == "B" * FREE_TEXT_LIMIT


def test_it_cuts_an_unreadable_timestamp_shown_as_received():
    detail = event_from("sms_delivered.json", createdAt="x" * 10_000)
    assert not detail.created_at.is_valid
    assert len(detail.created_at.raw) < 200


def test_bidirectional_controls_are_shown_replaced_and_escaped_in_the_json():
    spoof = "Rejected invoice-\u202etxt.exe and \u2066isolated\u2069"
    detail = event_from("sms_delivered.json", statusReason=spoof, fullPayload=spoof)
    assert detail.status_reason == "Rejected invoice-\ufffdtxt.exe and \ufffdisolated\ufffd"
    assert detail.full_payload == detail.status_reason
    for control in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert control not in detail.raw_json
    assert "invoice-\\u202etxt.exe" in detail.raw_json
    # Escaped the way JSON escapes: the raw JSON still holds the same value.
    assert json.loads(detail.raw_json)["statusReason"] == spoof


def test_the_direction_marks_are_shown_replaced_too():
    # An RLM among digits reorders them: "Refund 1<RLM> 2 3 4" reads "Refund 14 3 2".
    spoof = "Refund 1\u200f 2 3 4 approved \u200e\u061c"
    detail = event_from("sms_delivered.json", summary=spoof, statusReason=spoof)
    assert detail.summary == detail.status_reason == "Refund 1\ufffd 2 3 4 approved \ufffd\ufffd"
    assert "\\u200f" in detail.raw_json and "\u200f" not in detail.raw_json
    assert json.loads(detail.raw_json)["summary"] == spoof


def test_a_flood_of_combining_marks_is_cut_to_a_few_but_the_json_keeps_it():
    zalgo = "Z" + "\u0336\u0337\u0338\u0301\u030c" * 60 + "algo"
    detail = event_from("sms_delivered.json", statusReason=zalgo, leadId=zalgo)
    assert detail.status_reason == "Z" + "\u0336\u0337\u0338\u0301\u030c\u0336\ufffdalgo"
    assert detail.lead_id == detail.status_reason
    assert json.loads(detail.raw_json)["statusReason"] == zalgo


def test_the_marks_real_scripts_stack_are_kept():
    # Hebrew: a letter with a dagesh, a vowel, a cantillation mark and a meteg.
    pointed = "\u05d1\u05bc\u05b0\u0591\u05bd\u05e8"
    assert event_from("sms_delivered.json", summary=pointed).summary == pointed


def test_right_to_left_text_itself_is_kept():
    detail = event_from("sms_delivered.json", summary="שלום עולם مرحبا")
    assert detail.summary == "שלום עולם مرحبا"


def test_a_deeply_nested_answer_is_kept_whole_but_not_pretty_printed_out_of_bounds():
    """20 KB of nested arrays pretty-printed with indent=2 is 200 MB of spaces: every page
    view, poll and cache read of the event then moved that much memory."""
    depth = 9_000
    text = '{"id": "x", "status": "Completed", "nest": ' + "[" * depth + "]" * depth + "}"
    detail = parse_event_detail(json.loads(text), requested_id="x")
    assert len(detail.raw_json) < 2 * len(text)
    assert json.loads(detail.raw_json) == json.loads(text)


def test_an_ordinary_answer_is_still_pretty_printed():
    detail = event_from("sms_delivered.json")
    assert detail.raw_json.startswith('{\n  "')
