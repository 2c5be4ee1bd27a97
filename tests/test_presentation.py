import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from events.detail import LIFECYCLE_FIELDS, EventDetail, Moment, parse_timestamp
from events.presentation import (
    build_timeline,
    direction_label,
    format_duration,
    is_final_status,
    phone_display,
    status_badge,
    status_conflict,
    timeline_kind,
    timeline_outcome,
)
from tests.conftest import event_from

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TEL_HREF = re.compile(r"tel:\+[0-9]+")
_ATTRIBUTES = {api_name: attr for attr, api_name in LIFECYCLE_FIELDS.items()}


def _detail(**timestamps: str) -> EventDetail:
    """An EventDetail whose lifecycle fields are given by their API names."""
    moments = {
        _ATTRIBUTES[name]: Moment(raw=text, value=parse_timestamp(text))
        for name, text in timestamps.items()
    }
    return EventDetail(id="evt_1", **moments)


# status_badge / is_final_status


@pytest.mark.parametrize(
    ("status", "key", "label", "icon", "is_final"),
    [
        ("Pending", "pending", "Pending", "clock", False),
        ("InProgress", "in-progress", "In progress", "progress", False),
        ("Completed", "completed", "Completed", "check", True),
        ("Failed", "failed", "Failed", "x-circle", True),
        ("Cancelled", "cancelled", "Cancelled", "ban", True),
    ],
)
def test_it_builds_a_badge_for_every_documented_status(status, key, label, icon, is_final):
    badge = status_badge(status)
    assert (badge.key, badge.label, badge.icon, badge.is_final) == (key, label, icon, is_final)
    assert is_final_status(status) is is_final


@pytest.mark.parametrize(
    ("status", "key"),
    [
        ("in_progress", "in-progress"),
        ("IN PROGRESS", "in-progress"),
        ("in-progress", "in-progress"),
        ("inprogress", "in-progress"),
        ("Canceled", "cancelled"),
        ("CANCELLED", "cancelled"),
        (" completed ", "completed"),
        ("PENDING\n", "pending"),
        ("failed", "failed"),
    ],
)
def test_it_matches_statuses_whatever_their_case_and_separators(status, key):
    assert status_badge(status).key == key


@pytest.mark.parametrize("status", [None, "", "   "])
def test_it_shows_a_missing_status_as_unknown_and_not_final(status):
    badge = status_badge(status)
    assert (badge.key, badge.label, badge.icon, badge.is_final) == (
        "unknown",
        "Unknown",
        "question",
        False,
    )
    assert badge.description == "LeadPing did not report a status."
    assert is_final_status(status) is False


def test_it_keeps_an_unrecognised_status_as_received_and_keeps_polling_it():
    badge = status_badge("Rescheduled_Later")
    assert badge.key == "unknown"
    assert badge.label == "Rescheduled_Later"
    assert badge.icon == "question"
    assert badge.is_final is False
    assert badge.description != status_badge(None).description
    assert is_final_status("Rescheduled_Later") is False


@pytest.mark.parametrize(
    "status", ["Pending", "InProgress", "Completed", "Failed", "Cancelled", None, "Odd"]
)
def test_it_describes_every_status_in_one_short_sentence(status):
    description = status_badge(status).description
    assert description.endswith(".")
    assert description.count(".") == 1
    assert len(description) <= 60


def test_it_describes_a_pending_status_as_waiting_to_be_sent():
    assert status_badge("Pending").description == "Waiting to be sent."


# timeline_kind


@pytest.mark.parametrize(
    ("timeline_type", "label", "icon"),
    [
        ("Message", "Message", "message"),
        ("Sms", "SMS", "sms"),
        ("Mms", "MMS", "image"),
        ("Call", "Call", "phone"),
        ("Voicemail", "Voicemail", "voicemail"),
        ("Note", "Note", "note"),
        ("Disposition", "Disposition", "tag"),
        ("LeadCreated", "Lead created", "user-plus"),
        ("LeadUpdated", "Lead updated", "user-edit"),
        ("Notification", "Notification", "bell"),
        ("Payment", "Payment", "credit-card"),
        ("Warmup", "Warmup", "flame"),
    ],
)
def test_it_labels_every_documented_timeline_type(timeline_type, label, icon):
    kind = timeline_kind(timeline_type)
    assert (kind.label, kind.icon) == (label, icon)


@pytest.mark.parametrize(
    ("timeline_type", "label"),
    [
        ("SMS", "SMS"),
        ("sms", "SMS"),
        ("leadcreated", "Lead created"),
        ("LEAD_UPDATED", "Lead updated"),
    ],
)
def test_it_matches_timeline_types_case_insensitively(timeline_type, label):
    assert timeline_kind(timeline_type).label == label


def test_it_keeps_an_unknown_timeline_type_as_received_with_the_generic_icon():
    kind = timeline_kind("Fax")
    assert (kind.label, kind.icon) == ("Fax", "dot")


@pytest.mark.parametrize("timeline_type", [None, "", "  "])
def test_it_labels_a_missing_timeline_type_as_unknown(timeline_type):
    kind = timeline_kind(timeline_type)
    assert (kind.label, kind.icon) == ("Unknown type", "dot")


# direction_label


@pytest.mark.parametrize(
    ("direction", "label"),
    [
        ("inbound", "Inbound"),
        ("Inbound", "Inbound"),
        ("OUTBOUND", "Outbound"),
        (" outbound ", "Outbound"),
        ("Internal", "Internal"),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_it_normalises_directions_and_keeps_others_as_received(direction, label):
    assert direction_label(direction) == label


# phone_display


def test_it_reads_a_us_number_without_a_plus_with_the_default_region():
    number = phone_display("(201) 555-0123")
    assert number is not None
    assert number.raw == "(201) 555-0123"
    assert number.parsed is True
    assert number.valid is True
    assert number.e164 == "+12015550123"
    assert number.international == "+1 201-555-0123"
    assert number.region_code == "US"
    assert number.region_name == "United States"
    assert number.tel_href == "tel:+12015550123"
    assert number.text == "+1 201-555-0123"


def test_it_reads_a_national_number_with_another_default_region():
    number = phone_display("020 7946 0958", default_region="GB")
    assert number is not None
    assert number.e164 == "+442079460958"
    assert number.region_code == "GB"


@pytest.mark.parametrize(
    ("raw", "international", "region_code", "region_name"),
    [
        ("+442079460958", "+44 20 7946 0958", "GB", "United Kingdom"),
        ("+33142685300", "+33 1 42 68 53 00", "FR", "France"),
        ("+81312345678", "+81 3-1234-5678", "JP", "Japan"),
    ],
)
def test_it_formats_e164_numbers_internationally(raw, international, region_code, region_name):
    number = phone_display(raw, default_region="US")
    assert number is not None
    assert number.parsed is True
    assert number.valid is True
    assert number.e164 == raw
    assert number.international == international
    assert number.region_code == region_code
    assert number.region_name == region_name
    assert number.tel_href == f"tel:{raw}"


def test_it_marks_a_possible_but_invalid_number_as_parsed_and_not_valid():
    number = phone_display("+1 200 555 0100")
    assert number is not None
    assert number.parsed is True
    assert number.valid is False
    assert number.e164 == "+12005550100"
    assert number.tel_href == "tel:+12005550100"
    assert number.region_code is None
    assert number.region_name == ""


def test_it_gives_a_non_geographic_number_no_region():
    number = phone_display("+80012345678")
    assert number is not None
    assert number.parsed is True
    assert number.region_code is None


@pytest.mark.parametrize(
    "raw",
    [
        "not a number",
        "javascript:alert(1)",
        "12",
        "+999 1234567",
        "call 201 555 0123 now",
        "+1\x00201\n5550123",
        "1-800-FLOWERS",
        "javascript:alert('+12015550123')",
        "phone: +1 201 555 0123",
        "+1 201 555 0123 (mobile)",
    ],
)
def test_it_shows_text_that_is_not_a_possible_number_as_received(raw):
    number = phone_display(raw)
    assert number is not None
    assert number.raw == raw
    assert number.text == raw
    assert number.parsed is False
    assert number.valid is False
    assert number.e164 is None
    assert number.international is None
    assert number.region_code is None
    assert number.region_name == ""
    assert number.tel_href is None


@pytest.mark.parametrize(
    "raw",
    [
        '"><script>alert(1)</script>',
        "+1 201 555 0123<script>alert(1)</script>",
        'tel:+12015550123" onclick="alert(1)',
        "javascript:alert('+12015550123')",
        "+12015550123\u202e\u200b",
        "data:text/html,+12015550123",
    ],
)
def test_it_never_builds_a_link_from_hostile_text(raw):
    number = phone_display(raw)
    assert number is not None
    assert number.raw == raw
    assert number.tel_href is None or TEL_HREF.fullmatch(number.tel_href)


@pytest.mark.parametrize(
    "raw",
    ["1" * 10_240, "+" + "4" * 10_240, "a" * 10_240, "\u0661" * 10_240, "+1 201 555 0123 " * 640],
)
def test_it_shows_a_10_kb_string_as_received_without_parsing_it(raw):
    number = phone_display(raw)
    assert number is not None
    assert number.raw == raw
    assert number.parsed is False
    assert number.tel_href is None


@pytest.mark.parametrize(
    ("raw", "international"),
    [
        ("tel:+12015550123", "+1 201-555-0123"),
        ("+1 201 555 0123 ext. 45", "+1 201-555-0123 ext. 45"),
        ("+1.201.555.0123 x45", "+1 201-555-0123 ext. 45"),
        ("+1 (201) 555-0123", "+1 201-555-0123"),
        (" +1 201 555 0123\n", "+1 201-555-0123"),
    ],
)
def test_it_reads_the_usual_ways_of_writing_a_number(raw, international):
    number = phone_display(raw)
    assert number is not None
    assert number.international == international
    assert number.tel_href == "tel:+12015550123"


def test_it_reads_full_width_digits():
    number = phone_display("\uff12\uff10\uff11\uff15\uff15\uff15\uff10\uff11\uff12\uff13")
    assert number is not None
    assert number.e164 == "+12015550123"


@pytest.mark.parametrize("raw", [None, "", "   ", "\n"])
def test_it_has_nothing_to_show_for_a_missing_number(raw):
    assert phone_display(raw) is None


def test_it_never_raises_and_only_links_to_e164_for_arbitrary_text():
    rng = random.Random(20240501)
    alphabet = "0123456789+-().  xtEL#*;:/<>\"'&%\x00\x07\n\u200b\u202e\u0661\uff13abcjs"
    for _ in range(2_000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80)))
        for region in ("US", "GB", "JP"):
            number = phone_display(raw, default_region=region)
            assert number is None or number.tel_href is None or TEL_HREF.fullmatch(number.tel_href)


def test_it_does_not_raise_for_an_unsupported_default_region():
    number = phone_display("2015550123", default_region="XX")
    assert number is not None
    assert number.parsed is False


# format_duration


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0 s"),
        (timedelta(milliseconds=50), "under 0.1 s"),
        (timedelta(milliseconds=400), "0.4 s"),
        (timedelta(milliseconds=999), "0.9 s"),
        (timedelta(seconds=1), "1 s"),
        (timedelta(seconds=12, milliseconds=700), "12 s"),
        (timedelta(seconds=59, milliseconds=999), "59 s"),
        (timedelta(minutes=1), "1 min"),
        (timedelta(minutes=3, seconds=5), "3 min 5 s"),
        (timedelta(minutes=59, seconds=59), "59 min 59 s"),
        (timedelta(hours=1), "1 h"),
        (timedelta(hours=2, minutes=10, seconds=30), "2 h 10 min"),
        (timedelta(hours=2, seconds=5), "2 h"),
        (timedelta(days=1), "1 d"),
        (timedelta(days=3, hours=4, minutes=59), "3 d 4 h"),
        (timedelta(days=3, minutes=5), "3 d"),
        (timedelta(days=400, hours=2), "400 d 2 h"),
    ],
)
def test_it_formats_durations_compactly(delta, text):
    assert format_duration(delta) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-3), "\u22123 s"),
        (timedelta(milliseconds=-400), "\u22120.4 s"),
        (timedelta(milliseconds=-20), "\u2212under 0.1 s"),
        (timedelta(minutes=-3, seconds=-5), "\u22123 min 5 s"),
        (timedelta(days=-3, hours=-4), "\u22123 d 4 h"),
    ],
)
def test_it_shows_negative_durations_with_a_minus_sign(delta, text):
    assert format_duration(delta) == text


# build_timeline


def test_it_builds_no_steps_for_an_event_without_timestamps():
    assert build_timeline(EventDetail(id="evt_1"), now=NOW) == []


def test_it_labels_every_lifecycle_timestamp():
    timestamps = {
        name: f"2024-01-01T10:{minute:02d}:00Z" for minute, name in enumerate(_ATTRIBUTES)
    }
    steps = build_timeline(_detail(**timestamps), now=NOW)
    assert [(step.key, step.label) for step in steps] == [
        ("createdAt", "Created"),
        ("scheduledFor", "Scheduled for"),
        ("queuedAt", "Queued"),
        ("sendingStartedAt", "Sending started"),
        ("sentAt", "Sent"),
        ("deliveredAt", "Delivered"),
        ("receivedAt", "Received"),
        ("failedAt", "Failed"),
        ("undeliverableAt", "Undeliverable"),
        ("blockedAt", "Blocked"),
        ("canceledAt", "Canceled"),
        ("modifiedAt", "Last modified"),
    ]
    assert all(step.at is not None and step.at.tzinfo is not None for step in steps)
    assert [step.raw for step in steps] == list(timestamps.values())


def test_it_flags_only_failed_undeliverable_blocked_and_canceled_steps_as_failures():
    timestamps = {
        name: f"2024-01-01T10:{minute:02d}:00Z" for minute, name in enumerate(_ATTRIBUTES)
    }
    steps = build_timeline(_detail(**timestamps), now=NOW)
    assert {step.key for step in steps if step.is_failure} == {
        "failedAt",
        "undeliverableAt",
        "blockedAt",
        "canceledAt",
    }


def test_it_orders_steps_by_time_rather_than_by_field():
    detail = _detail(
        createdAt="2024-01-01T10:00:00Z",
        deliveredAt="2024-01-01T10:00:05Z",
        sentAt="2024-01-01T10:00:03Z",
        queuedAt="2024-01-01T10:00:04Z",
    )
    steps = build_timeline(detail, now=NOW)
    assert [step.key for step in steps] == ["createdAt", "sentAt", "queuedAt", "deliveredAt"]


def test_it_orders_steps_by_instant_across_utc_offsets():
    detail = _detail(createdAt="2024-01-01T10:30:00+02:00", sentAt="2024-01-01T09:00:00Z")
    steps = build_timeline(detail, now=NOW)
    assert [step.key for step in steps] == ["createdAt", "sentAt"]
    assert steps[1].since_previous == timedelta(minutes=30)


def test_it_keeps_lifecycle_order_for_steps_at_the_same_time():
    same = "2024-01-01T10:00:00Z"
    detail = _detail(modifiedAt=same, sentAt=same, createdAt=same, queuedAt=same)
    steps = build_timeline(detail, now=NOW)
    assert [step.key for step in steps] == ["createdAt", "queuedAt", "sentAt", "modifiedAt"]
    assert [step.since_previous_text for step in steps] == [None, "0 s", "0 s", "0 s"]


def test_it_puts_unreadable_steps_last_in_lifecycle_order():
    detail = _detail(
        createdAt="2024-01-01T10:00:00Z",
        queuedAt="soon",
        sentAt="2024-01-01T10:00:12Z",
        failedAt="2024-13-01T00:00:00",
        scheduledFor="not a date",
    )
    steps = build_timeline(detail, now=NOW)
    assert [step.key for step in steps] == [
        "createdAt",
        "sentAt",
        "scheduledFor",
        "queuedAt",
        "failedAt",
    ]
    unreadable = steps[2:]
    assert [step.at for step in unreadable] == [None, None, None]
    assert [step.raw for step in unreadable] == ["not a date", "soon", "2024-13-01T00:00:00"]
    assert [step.since_previous for step in unreadable] == [None, None, None]
    assert [step.is_upcoming for step in unreadable] == [False, False, False]
    assert unreadable[2].is_failure is True


def test_it_measures_each_step_from_the_previous_readable_one():
    detail = _detail(
        createdAt="2024-01-01T10:00:00Z",
        queuedAt="2024-01-01T10:00:00.400Z",
        sendingStartedAt="garbage",
        sentAt="2024-01-01T10:00:12.400Z",
        deliveredAt="2024-01-01T10:03:17.400Z",
    )
    steps = build_timeline(detail, now=NOW)
    assert [(step.key, step.since_previous) for step in steps] == [
        ("createdAt", None),
        ("queuedAt", timedelta(milliseconds=400)),
        ("sentAt", timedelta(seconds=12)),
        ("deliveredAt", timedelta(minutes=3, seconds=5)),
        ("sendingStartedAt", None),
    ]
    assert [step.since_previous_text for step in steps] == [
        None,
        "0.4 s",
        "12 s",
        "3 min 5 s",
        None,
    ]


def test_it_marks_a_future_scheduled_time_as_upcoming():
    detail = _detail(createdAt="2024-05-01T11:00:00Z", scheduledFor="2024-05-03T09:00:00Z")
    steps = build_timeline(detail, now=NOW)
    assert [(step.key, step.is_upcoming) for step in steps] == [
        ("createdAt", False),
        ("scheduledFor", True),
    ]
    assert steps[1].since_previous_text == "1 d 22 h"


def test_it_does_not_mark_a_past_or_present_time_as_upcoming():
    detail = _detail(scheduledFor="2024-05-01T11:59:59Z", sentAt="2024-05-01T12:00:00Z")
    assert [step.is_upcoming for step in build_timeline(detail, now=NOW)] == [False, False]


def test_it_keeps_a_last_modified_step_that_repeats_the_previous_one():
    detail = _detail(
        createdAt="2024-01-01T10:00:00Z",
        deliveredAt="2024-01-01T10:00:05Z",
        modifiedAt="2024-01-01T10:00:05Z",
    )
    steps = build_timeline(detail, now=NOW)
    assert [step.key for step in steps] == ["createdAt", "deliveredAt", "modifiedAt"]
    assert steps[-1].since_previous_text == "0 s"


# timeline_outcome


def test_it_has_no_outcome_without_steps():
    assert timeline_outcome([]) is None


def test_it_takes_the_last_step_as_the_outcome():
    detail = _detail(createdAt="2024-01-01T10:00:00Z", deliveredAt="2024-01-01T10:00:05Z")
    outcome = timeline_outcome(build_timeline(detail, now=NOW))
    assert outcome is not None
    assert outcome.key == "deliveredAt"


def test_the_outcome_is_the_furthest_step_even_when_leadpings_clocks_disagree():
    detail = _detail(
        createdAt="2024-01-01T10:00:10Z",
        queuedAt="2024-01-01T10:00:08Z",
        sentAt="2024-01-01T10:00:03Z",
        deliveredAt="2024-01-01T09:00:05Z",
        modifiedAt="2024-01-01T10:00:06Z",
    )
    steps = build_timeline(detail, now=NOW)
    assert steps[0].key == "deliveredAt"
    assert timeline_outcome(steps).key == "deliveredAt"


def test_it_passes_over_last_modified_when_choosing_the_outcome():
    detail = _detail(
        createdAt="2024-01-01T10:00:00Z",
        deliveredAt="2024-01-01T10:00:05Z",
        modifiedAt="2024-01-01T11:00:00Z",
    )
    outcome = timeline_outcome(build_timeline(detail, now=NOW))
    assert outcome is not None
    assert outcome.key == "deliveredAt"


def test_it_takes_last_modified_as_the_outcome_when_it_is_the_only_step():
    outcome = timeline_outcome(build_timeline(_detail(modifiedAt="2024-01-01T11:00Z"), now=NOW))
    assert outcome is not None
    assert outcome.key == "modifiedAt"


def test_it_prefers_the_last_failure_over_later_steps():
    detail = _detail(
        createdAt="2024-01-01T10:00:00Z",
        undeliverableAt="2024-01-01T10:00:03Z",
        failedAt="2024-01-01T10:00:04Z",
        receivedAt="2024-01-01T10:00:09Z",
        modifiedAt="2024-01-01T11:00:00Z",
    )
    outcome = timeline_outcome(build_timeline(detail, now=NOW))
    assert outcome is not None
    assert outcome.key == "failedAt"


def test_it_counts_a_failure_with_an_unreadable_time_as_the_outcome():
    detail = _detail(
        createdAt="2024-01-01T10:00:00Z",
        sentAt="2024-01-01T10:00:03Z",
        blockedAt="yesterday",
    )
    outcome = timeline_outcome(build_timeline(detail, now=NOW))
    assert outcome is not None
    assert (outcome.key, outcome.at, outcome.raw) == ("blockedAt", None, "yesterday")


def test_a_failure_with_a_time_goes_before_one_without():
    detail = _detail(
        createdAt="2024-01-01T10:00:00Z",
        failedAt="2024-01-01T10:00:03Z",
        canceledAt="some day",
    )
    assert timeline_outcome(build_timeline(detail, now=NOW)).key == "failedAt"


def test_the_outcome_is_never_a_step_whose_time_could_not_be_read():
    from events.detail import parse_event_detail

    detail = parse_event_detail(
        {
            "id": "e1",
            "createdAt": "2026-11-26T10:00:00Z",
            "sentAt": "2026-11-26T10:01:00Z",
            "deliveredAt": "yesterday-ish",
        },
        requested_id="e1",
    )
    steps = build_timeline(detail, now=datetime(2026, 11, 27, tzinfo=UTC))
    assert timeline_outcome(steps).key == "sentAt"


# --- status and lifecycle disagreeing ------------------------------------------------------


def test_a_completed_event_with_a_failure_time_is_flagged():
    detail = event_from("sms_delivered.json", status="Completed", failedAt="2026-11-26T14:03:00Z")
    assert status_conflict(detail) == (
        "LeadPing's status says Completed, but the lifecycle also has failed: "
        "check the timeline and the raw JSON."
    )


def test_a_failed_event_with_a_delivery_time_is_flagged():
    detail = event_from("sms_delivered.json", status="Failed")
    assert "status says Failed" in status_conflict(detail)
    assert "delivered" in status_conflict(detail)


@pytest.mark.parametrize("status", ["Completed", "Odd", None])
def test_an_event_whose_status_and_lifecycle_agree_is_not_flagged(status):
    assert status_conflict(event_from("sms_delivered.json", status=status)) is None


def test_a_step_timed_before_the_events_creation_is_flagged():
    detail = event_from(
        "sms_delivered.json",
        createdAt="2026-11-26T14:00:10Z",
        deliveredAt="2026-11-26T13:00:05Z",
        modifiedAt="2026-11-26T14:00:10Z",
    )
    assert status_conflict(detail) == (
        "LeadPing's lifecycle puts delivered before the event was created: its times may come "
        "from clocks that disagree. The timeline is in time order; check the raw JSON."
    )


def test_a_status_contradiction_and_a_step_before_the_creation_are_both_said():
    detail = event_from(
        "sms_delivered.json",
        status="Failed",
        createdAt="2026-11-26T14:00:10Z",
        deliveredAt="2026-11-26T13:00:05Z",
    )
    note = status_conflict(detail)
    assert note.startswith("LeadPing's status says Failed, but the lifecycle also has delivered")
    assert "puts delivered before the event was created" in note


def test_a_messages_steps_out_of_their_order_are_flagged():
    detail = event_from(
        "sms_delivered.json",
        sendingStartedAt="2026-11-26T14:02:15Z",
        sentAt="2026-11-26T14:02:11.500Z",
    )
    assert status_conflict(detail) == (
        "LeadPing's lifecycle puts sent before sending started: its times may come from clocks "
        "that disagree. The timeline is in time order; check the raw JSON."
    )


def test_a_step_that_happened_timed_in_the_future_is_flagged_not_upcoming():
    now = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    detail = event_from("sms_delivered.json", deliveredAt="2026-11-26T16:05:00Z", modifiedAt=None)
    assert "puts delivered in the future" in status_conflict(detail, now=now)
    delivered = [step for step in build_timeline(detail, now=now) if step.key == "deliveredAt"]
    assert not delivered[0].is_upcoming
    # A moment ahead is a clock a little off, not said.
    soon = event_from("sms_delivered.json", deliveredAt="2026-11-26T14:05:30Z", modifiedAt=None)
    assert status_conflict(soon, now=now) is None


def test_clocks_a_moment_apart_are_not_flagged():
    detail = event_from(
        "sms_delivered.json", createdAt="2026-11-26T14:00:00.900Z", queuedAt="2026-11-26T14:00:00Z"
    )
    assert status_conflict(detail) is None


@pytest.mark.parametrize("status", ["Pending", "InProgress"])
def test_a_live_event_is_flagged_only_once_its_lifecycle_has_an_ending(status):
    live = event_from("sms_delivered.json", status=status, deliveredAt=None)
    assert status_conflict(live) is None
    delivered = status_conflict(event_from("sms_delivered.json", status=status))
    assert "but the lifecycle also has delivered" in delivered
    failed = event_from(
        "sms_delivered.json", status=status, deliveredAt=None, failedAt="2026-11-26T14:03:00Z"
    )
    assert "but the lifecycle also has failed" in status_conflict(failed)


def test_a_long_unknown_status_is_cut_to_a_label_with_the_whole_in_its_description():
    status = "Held for review " * 60
    badge = status_badge(status)
    assert len(badge.label) == 60
    assert badge.label.endswith("…")
    assert badge.description.endswith(status)
    assert status_badge("Held").description == "A status this dashboard does not know yet."


@pytest.mark.parametrize("status", ["Completed?", "Com\u200bpleted", "Fa\u0301iled", "Cancelled!"])
def test_a_status_that_only_looks_final_is_shown_as_received_and_not_final(status):
    badge = status_badge(status)
    assert not badge.is_final
    assert badge.label == status


@pytest.mark.parametrize(
    "status", ["COMPLETED", "in progress", "IN_PROGRESS", "in-progress", " Failed "]
)
def test_a_status_in_another_case_or_with_blanks_dashes_or_underscores_is_known(status):
    assert status_badge(status).label in {"Completed", "In progress", "Failed"}
