import pytest

from events.event_ids import (
    MAX_EVENT_ID_LENGTH,
    InvalidEventId,
    extract_event_id,
    is_valid_event_id,
    validate_event_id,
)

GUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


@pytest.mark.parametrize(
    "value", [GUID, "evt_42", "msg:42", "a.b-c_d", "A" * MAX_EVENT_ID_LENGTH, "7"]
)
def test_it_accepts_ordinary_ids(value):
    assert validate_event_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "..",
        ".",
        "../etc/passwd",
        "a/b",
        "%2F",
        "a%2Fb",
        "a?b",
        "a#b",
        "a@b",
        " a",
        "a\n",
        "a\tb",
        "x" * (MAX_EVENT_ID_LENGTH + 1),
        "x" * 10240,
        "événement",
        "ид",
        "-leading-dash",
        "a\x00b",
    ],
)
def test_it_rejects_ids_that_could_escape_one_path_segment(value):
    assert not is_valid_event_id(value)
    with pytest.raises(InvalidEventId):
        validate_event_id(value)


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        (GUID, GUID),
        (f"  {GUID}\n", GUID),
        (f"https://desk.example.com/events/{GUID}/", GUID),
        (f"https://desk.example.com/events/{GUID}/status/", GUID),
        (f"https://api.leadping.ai/events/{GUID}/detail", GUID),
        ("https://api.leadping.ai/events/sms/evt_9/", "evt_9"),
        ("https://app.leadping.ai/activity?eventId=evt_77", "evt_77"),
        (f"Customer says message {GUID} never arrived", GUID),
        ("what happened to evt_42?", "evt_42"),
        (f"<{GUID}>", GUID),
    ],
)
def test_it_finds_the_event_id_in_pasted_text(pasted, expected):
    assert extract_event_id(pasted) == expected


@pytest.mark.parametrize(
    "pasted",
    [
        "",
        "   ",
        "hello there",
        "https://desk.example.com/events/../admin/",
        "/events/ab%2F/",
        f"{GUID} and 9b2f04e0-4f89-41d3-9a0c-0305e82c3302",
        "x" * 5000,
        "javascript:alert(1)",
    ],
)
def test_it_explains_when_no_single_event_id_can_be_found(pasted):
    with pytest.raises(InvalidEventId) as caught:
        extract_event_id(pasted)
    assert str(caught.value)


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("Customer says SMS at 10:30 didn't arrive, event id SM1234abcd", "SM1234abcd"),
        ("Sent on 2024-05-01 and failed, evt 9f8e7d6c", "9f8e7d6c"),
        ("27.11.2026 14:05:09 — event evt_77 bounced", "evt_77"),
        ("at 2024-05-01T10:30:00Z the event evt_88 failed", "evt_88"),
    ],
)
def test_times_and_dates_in_a_ticket_are_not_taken_for_ids(pasted, expected):
    assert extract_event_id(pasted) == expected


def test_more_than_one_possible_id_are_named():
    with pytest.raises(InvalidEventId) as caught:
        extract_event_id("evt_1 or evt_2 or evt_3 or evt_4?")
    assert str(caught.value) == (
        "That text holds more than one possible event ID (evt_1, evt_2, evt_3, …). Paste just one."
    )


@pytest.mark.parametrize(
    "pasted",
    [
        # Part of an accented word.
        "évènement-1",
        "évènement-1234x",
        "Ereignis-ä12b",
        "naïve1234",
        "abc\u0301d1234",  # after a combining accent
        # Part of a GUID with a look-alike letter (Cyrillic e, o) in it: not its tail after
        # the letter, nor its head before it.
        "0b7c6a1\u0435-4f2d-4c8e-9a51-3d2e8f6b1c70",
        "0b7c6a1e-4f2d-4c8e-9a51-3d2e8f6b1c7\u043e",
        # The tail of a percent-escape.
        "..%2f..%2fadmin",
        "see%20evt42x",
    ],
)
def test_part_of_a_word_is_not_taken_for_an_id(pasted):
    with pytest.raises(InvalidEventId) as caught:
        extract_event_id(pasted)
    assert str(caught.value).startswith("No event ID found.")


@pytest.mark.parametrize(
    "pasted",
    ["+15125550147", "+1 512 555 0147", "(512) 555-0147", "+44 20 7946 0958", "512 555 0147"],
)
def test_a_pasted_phone_number_is_explained_not_looked_up(pasted):
    with pytest.raises(InvalidEventId) as caught:
        extract_event_id(pasted)
    assert str(caught.value).startswith("That looks like a phone number.")


@pytest.mark.parametrize("pasted", ["15125550147", "2024-05-01", "evt-555-0147"])
def test_a_bare_id_that_happens_to_be_digits_is_still_an_id(pasted):
    assert extract_event_id(pasted) == pasted


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        # Zero-width spaces, joiners, soft hyphens and BOMs come with text copied from tickets
        # and chats; they are invisible, and must not cut the ID into a shorter, other one.
        (f"{GUID[0]}\u200b{GUID[1:]}", GUID),
        (f"{GUID[:-1]}\u200b{GUID[-1]}", GUID),
        (f"{GUID[:9]}\u00ad{GUID[9:]}", GUID),
        ("Event SM12\u200d34abcd failed", "SM1234abcd"),
        (f"\ufeff{GUID}\u2060", GUID),
    ],
)
def test_invisible_format_characters_do_not_cut_an_id_short(pasted, expected):
    assert extract_event_id(pasted) == expected


@pytest.mark.parametrize(
    "pasted",
    ["call the customer at 14155550198", "Customer 4155550198 says the SMS never came"],
)
def test_a_phone_number_in_a_sentence_is_explained_not_looked_up(pasted):
    with pytest.raises(InvalidEventId) as caught:
        extract_event_id(pasted)
    assert str(caught.value).startswith("That text holds a phone number")


def test_an_id_beside_a_phone_number_in_a_sentence_is_still_found():
    assert extract_event_id("SM1234abcd to 14155550198 failed") == "SM1234abcd"
