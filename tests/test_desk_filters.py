from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.conf import settings as django_settings
from django.template import Context, Template
from django.template.loader import get_template
from django.urls import NoReverseMatch
from django.utils import timezone

from events.detail import LIFECYCLE_FIELDS, EventDetail, Moment
from events.presentation import build_timeline, status_badge, timeline_kind
from events.templatetags.desk import ICON_NAMES

SVG = "{http://www.w3.org/2000/svg}"
STROKE_ATTRIBUTES = {
    "viewBox": "0 0 24 24",
    "fill": "none",
    "stroke": "currentColor",
    "stroke-width": "2",
    "stroke-linecap": "round",
    "stroke-linejoin": "round",
}
HOSTILE_NUMBERS = [
    "javascript:alert(1)",
    '"><script>alert(1)</script>',
    'tel:+12015550123" onclick="alert(1)',
    "+1 201 555 0123<script>alert(1)</script>",
    "javascript:alert('+12015550123')",
    "x" * 10_240,
]


def _render(source: str, **context: object) -> str:
    return Template("{% load desk %}" + source).render(Context(context))


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value or "" for name, value in attrs if name == "href"]


def _hrefs(html: str) -> list[str]:
    parser = _Hrefs()
    parser.feed(html)
    return parser.hrefs


def _sprite() -> ElementTree.Element:
    # Our own template file, not untrusted input.
    return ElementTree.fromstring(get_template("icons.html").render())  # noqa: S314


# status_badge


def test_it_renders_a_status_badge():
    html = _render(
        '{% with badge=status|status_badge %}<span class="badge badge-{{ badge.key }}" '
        'title="{{ badge.description }}">{{ badge.label }}</span>{% endwith %}',
        status="IN_PROGRESS",
    )
    assert html == (
        '<span class="badge badge-in-progress" title="Under way now.">In progress</span>'
    )


def test_it_renders_a_missing_status_as_unknown():
    html = _render(
        "{% with badge=status|status_badge %}{{ badge.key }} {{ badge.label }}{% endwith %}"
    )
    assert html == "unknown Unknown"


def test_it_escapes_an_unrecognised_status_label():
    html = _render(
        "{% with badge=status|status_badge %}{{ badge.label }}{% endwith %}", status="<b>Odd</b>"
    )
    assert html == "&lt;b&gt;Odd&lt;/b&gt;"


# event_kind


def test_it_renders_an_event_kind_with_its_icon():
    html = _render(
        "{% with kind=type|event_kind %}{% icon kind.icon %} {{ kind.label }}{% endwith %}",
        type="LeadCreated",
    )
    assert html == (
        '<svg class="icon" aria-hidden="true"><use href="#i-user-plus"></use></svg> Lead created'
    )


def test_it_renders_a_missing_event_kind_as_unknown_type():
    assert _render("{% with kind=type|event_kind %}{{ kind.label }}{% endwith %}") == "Unknown type"


# phone

_PHONE = (
    "{% with number=raw|phone %}{% if number %}"
    '{% if number.tel_href %}<a href="{{ number.tel_href }}">{{ number.text }}</a>'
    "{% else %}<span>{{ number.text }}</span>{% endif %}"
    "{% else %}none{% endif %}{% endwith %}"
)


def test_it_links_a_us_number_with_the_default_region(settings):
    settings.LEADPING_DEFAULT_REGION = "US"
    html = _render(_PHONE, raw="(201) 555-0123")
    assert html == '<a href="tel:+12015550123">+1 201-555-0123</a>'


def test_it_reads_national_numbers_with_the_configured_region(settings):
    settings.LEADPING_DEFAULT_REGION = "GB"
    html = _render(_PHONE, raw="020 7946 0958")
    assert html == '<a href="tel:+442079460958">+44 20 7946 0958</a>'


def test_it_renders_nothing_to_link_for_a_missing_number():
    assert _render(_PHONE) == "none"
    assert _render(_PHONE, raw=None) == "none"


@pytest.mark.parametrize("raw", HOSTILE_NUMBERS)
def test_it_never_puts_a_hostile_phone_string_inside_an_href(raw):
    html = _render(_PHONE, raw=raw)
    assert _hrefs(html) == []
    assert "<script>" not in html
    assert "javascript:" not in "".join(_hrefs(html))


def test_it_links_a_tel_uri_by_its_e164_number():
    html = _render(_PHONE, raw="tel:+12015550123")
    assert _hrefs(html) == ["tel:+12015550123"]


# duration


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=3, seconds=5), "3 min 5 s"),
        (timedelta(seconds=-3), "\u22123 s"),
        (None, ""),
        ("3 minutes", ""),
    ],
)
def test_it_renders_durations(delta, text):
    assert _render("{{ delta|duration }}", delta=delta) == text


def test_it_renders_nothing_for_a_missing_duration():
    assert _render("{{ delta|duration }}") == ""


def test_it_renders_the_time_between_timeline_steps():
    detail = EventDetail(
        id="evt_1",
        created_at=Moment("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        sent_at=Moment("2024-01-01T12:10:30Z", datetime(2024, 1, 1, 12, 10, 30, tzinfo=UTC)),
    )
    steps = build_timeline(detail, now=datetime(2024, 5, 1, tzinfo=UTC))
    html = _render(
        "{% for step in steps %}{{ step.label }}:{{ step.since_previous|duration }};{% endfor %}",
        steps=steps,
    )
    assert html == "Created:;Sent:2 h 10 min;"


# direction


@pytest.mark.parametrize(
    ("value", "text"), [("inbound", "Inbound"), ("OUTBOUND", "Outbound"), ("Internal", "Internal")]
)
def test_it_renders_directions(value, text):
    assert _render("{{ value|direction }}", value=value) == text


def test_it_renders_nothing_for_a_missing_direction():
    assert _render("{{ value|direction }}") == ""
    assert _render("{{ value|direction }}", value=None) == ""


# icon


def test_it_renders_a_known_icon_from_the_sprite():
    assert _render('{% icon "check" %}') == (
        '<svg class="icon" aria-hidden="true"><use href="#i-check"></use></svg>'
    )


@pytest.mark.parametrize(
    "name",
    ["no-such-icon", '"><script>alert(1)</script>', "check onload=alert(1)", "CHECK", ""],
)
def test_it_renders_the_generic_icon_for_an_unknown_name(name):
    html = _render("{% icon name %}", name=name)
    assert html == ('<svg class="icon" aria-hidden="true"><use href="#i-dot"></use></svg>')


def test_it_renders_the_generic_icon_for_a_missing_or_non_text_name():
    assert 'href="#i-dot"' in _render("{% icon name %}")
    assert 'href="#i-dot"' in _render("{% icon name %}", name=["check"])


@pytest.mark.parametrize("name", sorted(ICON_NAMES))
def test_it_renders_every_known_icon_by_name(name):
    assert _hrefs(_render("{% icon name %}", name=name)) == [f"#i-{name}"]


# the sprite


def test_the_sprite_defines_exactly_the_known_icon_names():
    ids = {symbol.get("id") for symbol in _sprite().iter(f"{SVG}symbol")}
    assert ids == {f"i-{name}" for name in ICON_NAMES}


def test_the_sprite_is_hidden_without_an_inline_style():
    root = _sprite()
    assert root.tag == f"{SVG}svg"
    assert "style" not in root.attrib
    assert root.get("class") == "icon-sprite"
    assert root.get("aria-hidden") == "true"
    assert (root.get("width"), root.get("height")) == ("0", "0")
    assert not any("style" in element.attrib for element in root.iter())
    assert not list(root.iter(f"{SVG}style"))


@pytest.mark.parametrize("name", sorted(ICON_NAMES))
def test_every_sprite_symbol_is_a_24_pixel_stroke_icon(name):
    symbol = _sprite().find(f"{SVG}symbol[@id='i-{name}']")
    assert symbol is not None
    assert {key: symbol.get(key) for key in STROKE_ATTRIBUTES} == STROKE_ATTRIBUTES
    assert len(symbol) > 0


def test_the_sprite_stays_small():
    path = Path(django_settings.BASE_DIR) / "templates" / "icons.html"
    assert path.stat().st_size < 6_500


def test_every_icon_the_presentation_layer_names_is_in_the_sprite():
    statuses = ["Pending", "InProgress", "Completed", "Failed", "Cancelled", None, "Odd"]
    types = [
        "Message",
        "Sms",
        "Mms",
        "Call",
        "Voicemail",
        "Note",
        "Disposition",
        "LeadCreated",
        "LeadUpdated",
        "Notification",
        "Payment",
        "Warmup",
        None,
        "Fax",
    ]
    moment = Moment("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC))
    detail = EventDetail(id="evt_1", **dict.fromkeys(LIFECYCLE_FIELDS, moment))
    used = (
        {status_badge(status).icon for status in statuses}
        | {timeline_kind(kind).icon for kind in types}
        | {step.icon for step in build_timeline(detail, now=datetime(2024, 5, 1, tzinfo=UTC))}
    )
    assert used <= ICON_NAMES


# --- page_url and asset: {% url %} and {% static %} looked up once a process ---------------


def test_page_url_gives_what_url_gives():
    rendered = Template(
        "{% load desk %}{% page_url 'events:lookup' %}|{% url 'events:lookup' %}|"
        "{% page_url 'password_change' %}|{% url 'password_change' %}"
    ).render(Context())
    first, second, third, fourth = rendered.split("|")
    assert (first, third) == (second, fourth)


def test_page_url_follows_the_script_prefix():
    from django.urls import set_script_prefix

    template = Template("{% load desk %}{% page_url 'events:lookup' %}")
    try:
        set_script_prefix("/desk/")
        assert template.render(Context()) == "/desk/"
    finally:
        set_script_prefix("/")
    assert template.render(Context()) == "/"


def test_asset_gives_what_static_gives_and_follows_a_storage_change(settings):
    template = Template(
        "{% load static desk %}{% asset 'css/desk.css' %}|{% static 'css/desk.css' %}"
    )
    first, second = template.render(Context()).split("|")
    assert first == second
    settings.STATIC_URL = "/assets/"
    first, second = template.render(Context()).split("|")
    assert first == second == "/assets/css/desk.css"


@pytest.mark.parametrize(
    "event_id",
    ["0b7c6a1e-4f2d-4c8e-9a51-3d2e8f6b1c70", "evt_1", "a:b.c-d", "x" * 128, "../x", "a b?#%", ""],
)
@pytest.mark.parametrize("name", ["events:detail", "events:status", "events:raw"])
def test_event_url_gives_what_url_gives(name, event_id):
    if not event_id or "/" in event_id:
        # No URL of the desk takes these: both refuse.
        for tag in ("event_url", "url"):
            with pytest.raises(NoReverseMatch):
                Template(f"{{% load desk %}}{{% {tag} name event_id %}}").render(
                    Context({"name": name, "event_id": event_id})
                )
        return
    rendered = Template("{% load desk %}{% event_url name event_id %}|{% url name event_id %}")
    first, second = rendered.render(Context({"name": name, "event_id": event_id})).split("|")
    assert first == second


def test_event_url_follows_the_script_prefix():
    from django.urls import set_script_prefix

    template = Template("{% load desk %}{% event_url 'events:status' 'evt-1' %}")
    try:
        set_script_prefix("/desk/")
        assert template.render(Context()) == "/desk/events/evt-1/status/"
    finally:
        set_script_prefix("/")
    assert template.render(Context()) == "/events/evt-1/status/"


# --- small text filters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("evt-1", "evt-1"),
        ("x" * 24, "x" * 24),
        ("x" * 25, "x" * 23 + "…"),
        (None, ""),
        (12345, "12345"),
    ],
)
def test_shorten_cuts_long_text_with_an_ellipsis(value, text):
    assert _render("{{ value|shorten:24 }}", value=value) == text


def test_shorten_escapes_what_it_keeps():
    assert _render("{{ value|shorten:10 }}", value="<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"


def test_time_of_day_is_the_clock_time_in_the_viewers_zone(settings):
    at = datetime(2026, 11, 27, 17, 42, 36, 471000, tzinfo=UTC)
    assert _render("{{ at|time_of_day }}", at=at) == "17:42:36"
    with timezone.override("America/New_York"):
        assert _render("{{ at|time_of_day }}|{{ at|date:'H:i:s' }}", at=at) == "12:42:36|12:42:36"
    assert _render("{{ at|time_of_day }}", at="not a time") == ""
