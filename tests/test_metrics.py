import re

import pytest
import responses
from django.urls import reverse

from events import leadping, metrics, services, upstream
from events.event_ids import InvalidEventId
from tests.conftest import TEST_API_BASE, TEST_API_KEY, payload

TOKEN = "scrape-token-0123456789abcdef"
FOUND = "evt-found-1"
MISSING = "evt-missing-1"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def _metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


@pytest.fixture
def upstream_mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(
            f"{TEST_API_BASE}/events/{FOUND}/detail",
            json={**payload("sms_delivered.json"), "id": FOUND},
        )
        mock.get(f"{TEST_API_BASE}/events/{MISSING}/detail", status=404)
        yield mock


def scrape(client) -> str:
    response = client.get(reverse("metrics"), headers=BEARER)
    assert response.status_code == 200
    return response.content.decode()


def sample(text: str, series: str) -> float:
    """The value of one series line, e.g. 'leadping_lookups_total{outcome="found"}'."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} not in the scrape"
    return float(match.group(1))


# --- who may read them --------------------------------------------------------------------


def test_metrics_answer_the_bearer_token(client):
    response = client.get(reverse("metrics"), headers=BEARER)
    assert response.status_code == 200
    assert response["Content-Type"] == metrics.CONTENT_TYPE
    assert response["Cache-Control"] == "no-store"


def test_metrics_refuse_anonymous_requests_with_401(client):
    response = client.get(reverse("metrics"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_metrics_refuse_a_wrong_token(client):
    response = client.get(reverse("metrics"), headers={"Authorization": "Bearer nope-nope-nope"})
    assert response.status_code == 401


def test_metrics_refuse_any_token_when_none_is_configured(client, settings):
    settings.METRICS_TOKEN = None
    assert client.get(reverse("metrics"), headers=BEARER).status_code == 401


def test_metrics_refuse_logged_in_support_staff_without_staff_status(staff_client):
    assert staff_client.get(reverse("metrics")).status_code == 403


def test_metrics_answer_a_staff_login(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))
    assert client.get(reverse("metrics")).status_code == 200


# --- what they say ------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_family_is_declared_before_its_samples(client):
    text = scrape(client)
    declared: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
        elif not line.startswith("#"):
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in declared or family in declared, line
    assert text.endswith("\n")


@pytest.mark.django_db
def test_lookups_are_counted_by_outcome(client, upstream_mock):
    services.lookup_event(event_id=FOUND)
    services.lookup_event(event_id=FOUND)
    with pytest.raises(leadping.EventNotFound):
        services.lookup_event(event_id=MISSING)
    with pytest.raises(InvalidEventId):
        services.lookup_event(event_id="../etc")
    text = scrape(client)
    assert sample(text, 'leadping_lookups_total{outcome="found"}') == 2
    assert sample(text, 'leadping_lookups_total{outcome="not_found"}') == 1
    assert sample(text, 'leadping_lookups_total{outcome="invalid_id"}') == 1
    assert sample(text, 'leadping_upstream_calls_total{outcome="ok"}') == 1
    assert sample(text, 'leadping_upstream_calls_total{outcome="not_found"}') == 1
    assert sample(text, 'leadping_cache_requests_total{result="hit"}') == 1
    assert sample(text, 'leadping_cache_requests_total{result="miss"}') == 2


@pytest.mark.django_db
def test_every_upstream_call_lands_in_the_latency_histogram(client, upstream_mock):
    services.lookup_event(event_id=FOUND)
    with pytest.raises(leadping.EventNotFound):
        services.lookup_event(event_id=MISSING)
    text = scrape(client)
    name = "leadping_upstream_call_duration_seconds"
    assert sample(text, f"{name}_count") == 2
    assert sample(text, f'{name}_bucket{{le="+Inf"}}') == 2
    assert sample(text, f"{name}_sum") >= 0
    counts = [float(n) for n in re.findall(rf"^{name}_bucket{{le=\"[^\"]+\"}} (\S+)$", text, re.M)]
    assert len(counts) == len(metrics.LATENCY_BUCKETS) + 1
    assert counts == sorted(counts)  # cumulative


def test_observations_fall_into_the_first_bucket_that_holds_them():
    metrics.observe_upstream_seconds(0.03)
    metrics.observe_upstream_seconds(0.3)
    metrics.observe_upstream_seconds(99)
    buckets, total, count = metrics.read_latency_histogram()
    cumulative = dict(buckets)
    assert cumulative["0.05"] == 1
    assert cumulative["0.25"] == 1
    assert cumulative["0.5"] == 2
    assert cumulative["10.0"] == 2
    assert cumulative["+Inf"] == 3
    assert count == 3
    assert total == pytest.approx(99.33)


@pytest.mark.django_db
def test_budget_refusals_and_polls_are_reported(client, settings, upstream_mock):
    settings.LEADPING_BUDGET_CALLS = settings.LEADPING_BUDGET_BURST = 1
    services.lookup_event(event_id=FOUND)
    with pytest.raises(services.BudgetExhausted):
        services.lookup_event(event_id=MISSING)
    upstream.count("polls_served", 3)
    upstream.count("polls_unchanged", 1)
    text = scrape(client)
    assert sample(text, 'leadping_refused_calls_total{reason="budget"}') == 1
    assert sample(text, 'leadping_lookups_total{outcome="rate_limited"}') == 1
    assert sample(text, 'leadping_polls_served_total{changed="true"}') == 2
    assert sample(text, 'leadping_polls_served_total{changed="false"}') == 1
    assert sample(text, "leadping_coalesced_waits_total") == 0


@pytest.mark.django_db
def test_metrics_reveal_no_secret(client, settings, upstream_mock):
    services.lookup_event(event_id=FOUND)
    text = scrape(client)
    for secret in (TEST_API_KEY, TOKEN, settings.SECRET_KEY, TEST_API_BASE, FOUND):
        assert secret not in text
