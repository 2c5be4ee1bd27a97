import socket
import threading
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django.urls import reverse

from events import upstream
from tests.conftest import TEST_API_KEY


class Listener:
    """A TCP listener standing in for LeadPing's API host, recording what it was sent."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(5)
        self._received: list[bytes] = []
        self._thread = threading.Thread(target=self._accept_one, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server.getsockname()[1]

    def _accept_one(self) -> None:
        try:
            peer, _ = self.server.accept()
        except OSError:
            return
        with peer:
            peer.settimeout(2)
            try:
                self._received.append(peer.recv(1024))
            except OSError:
                self._received.append(b"<nothing, connection left open>")

    def received(self) -> list[bytes]:
        """What each connection sent before closing (waits for the connection to end)."""
        self._thread.join(timeout=5)
        return self._received

    def close(self) -> None:
        self.server.close()
        self._thread.join(timeout=5)


@pytest.fixture
def upstream_listener(settings):
    listener = Listener()
    settings.LEADPING_API_BASE_URL = f"http://127.0.0.1:{listener.port}"
    yield listener
    listener.close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_answers_without_login(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_answers_200_without_login_when_everything_answers(client, upstream_listener):
    response = client.get(reverse("readyz"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "upstream": "ok"},
        "failing": [],
    }
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_the_upstream_check_sends_nothing_and_spends_no_budget(client, upstream_listener):
    client.get(reverse("readyz"))
    assert upstream_listener.received() == [b""]  # connected, sent nothing, closed
    assert upstream.read_counters()["upstream_ok"] == 0
    assert upstream.read_counters()["cache_misses"] == 0


@pytest.mark.django_db
def test_readyz_names_an_unreachable_leadping(client, settings, closed_port):
    settings.LEADPING_API_BASE_URL = f"http://127.0.0.1:{closed_port}"
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["upstream"]
    assert body["checks"]["upstream"].startswith("unreachable")


@pytest.mark.django_db
def test_readyz_names_a_failing_database(client, upstream_listener):
    failure = OperationalError('connection to server at "db.internal" failed: password x')
    with mock.patch.object(connection, "cursor", side_effect=failure):
        response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]
    assert response.json()["checks"]["database"] == "error (OperationalError)"
    assert b"db.internal" not in response.content


@pytest.mark.django_db
def test_readyz_names_a_failing_cache(client, upstream_listener):
    with mock.patch.object(cache, "set", side_effect=ConnectionError("redis down")):
        response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]


@pytest.mark.django_db
def test_readyz_reveals_no_secret_or_address(client, settings, closed_port):
    settings.LEADPING_API_BASE_URL = f"http://127.0.0.1:{closed_port}"
    response = client.get(reverse("readyz"))
    assert TEST_API_KEY.encode() not in response.content
    assert str(closed_port).encode() not in response.content
    assert settings.SECRET_KEY.encode() not in response.content


def test_probes_are_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get(reverse("healthz")).status_code == 200
    assert client.get(reverse("metrics")).status_code == 401
    assert client.get(reverse("events:lookup")).status_code == 301


def _served(environ: dict) -> tuple[str, dict[str, str], bytes]:
    """Status, headers and body as a WSGI server (gunicorn) gets them from the desk."""
    from django.core.handlers.wsgi import WSGIHandler

    said: dict = {}

    def start_response(status, headers, exc_info=None):
        said.update(status=status, headers=dict(headers))

    chunks = WSGIHandler()(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        chunks.close()
    return said["status"], said["headers"], body


@pytest.mark.django_db  # the handler's request_finished closes database connections
@pytest.mark.parametrize("path", ["/healthz", "/accounts/login/"])
def test_a_head_request_gets_the_headers_of_a_get_and_no_body(rf, path):
    """gunicorn dropped the body itself, with a warning per probe in the log."""
    _, got_headers, got_body = _served(rf.get(path).environ)
    status, headers, body = _served(rf.head(path).environ)
    assert status.startswith("200")
    assert body == b""
    assert headers["Content-Type"] == got_headers["Content-Type"]
    if "Content-Length" in got_headers:
        assert headers["Content-Length"] == str(len(got_body))
