import json
import os
import runpy
import socket
import subprocess
import sys
from unittest import mock

import pytest
import requests
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from events.management.commands import rundesk
from leadping_web.env import env_choice
from tests.gunicorn_support import (
    GUNICORN_CONFIG,
    ROOT,
    desk_environment,
    free_port,
    start_gunicorn,
    stop,
)

SETTINGS_FILE = ROOT / "leadping_web" / "settings.py"
_GUNICORN_VARIABLES = (
    "GUNICORN_BIND",
    "PORT",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_ACCESS_LOG",
    "GUNICORN_LOG_LEVEL",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_CONTROL_SOCKET",
    "LEADPING_REQUEST_DEADLINE",
    "DJANGO_LOG_FORMAT",
)
_SETTINGS_VARIABLES = (
    "REDIS_URL",
    "DATABASE_URL",
    "METRICS_TOKEN",
    "DJANGO_LOG_FORMAT",
    "DJANGO_STATIC_ROOT",
)


def gunicorn_config(monkeypatch, **env: str) -> dict:
    """The names leadping_web/gunicorn.conf.py defines, as gunicorn reads them, under `env`."""
    for name in _GUNICORN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONFIG))


def desk_settings(monkeypatch, **env: str) -> dict:
    """leadping_web/settings.py run afresh under `env` (the running settings are untouched)."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", "settings-test-secret-key-0123456789abcdef")
    for name in _SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


# --- gunicorn.conf.py ---------------------------------------------------------------------


def test_gunicorn_serves_the_desk_on_loopback_by_default(monkeypatch):
    config = gunicorn_config(monkeypatch)
    assert config["wsgi_app"] == "leadping_web.wsgi:application"
    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["workers"] == 1
    assert config["threads"] == 16
    assert config["worker_class"] == "gthread"
    assert config["accesslog"] == "-"


def test_gunicorn_listens_on_all_interfaces_at_port_when_port_is_set(monkeypatch):
    assert gunicorn_config(monkeypatch, PORT="9000")["bind"] == ["0.0.0.0:9000"]


def test_gunicorn_bind_wins_over_port(monkeypatch):
    config = gunicorn_config(monkeypatch, PORT="9000", GUNICORN_BIND="unix:/run/desk.sock,[::1]:81")
    assert config["bind"] == ["unix:/run/desk.sock", "[::1]:81"]


def test_gunicorn_takes_workers_and_threads_from_the_environment(monkeypatch):
    config = gunicorn_config(monkeypatch, WEB_CONCURRENCY="4", GUNICORN_THREADS="32")
    assert (config["workers"], config["threads"]) == (4, 32)


def test_the_worker_timeout_outlives_the_upstream_deadline(monkeypatch):
    assert gunicorn_config(monkeypatch)["timeout"] > 8
    config = gunicorn_config(monkeypatch, LEADPING_REQUEST_DEADLINE="40")
    assert config["timeout"] > 40
    assert config["graceful_timeout"] == config["timeout"]


def test_a_worker_timeout_shorter_than_the_deadline_stops_gunicorn(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="GUNICORN_TIMEOUT"):
        gunicorn_config(monkeypatch, LEADPING_REQUEST_DEADLINE="20", GUNICORN_TIMEOUT="20")


def test_a_malformed_gunicorn_variable_is_named(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="WEB_CONCURRENCY"):
        gunicorn_config(monkeypatch, WEB_CONCURRENCY="many")


def test_the_access_log_can_be_turned_off(monkeypatch):
    assert gunicorn_config(monkeypatch, GUNICORN_ACCESS_LOG="off")["accesslog"] is None


def test_the_access_log_records_the_request_id(monkeypatch):
    assert "%({x-request-id}o)s" in gunicorn_config(monkeypatch)["access_log_format"]


def test_the_control_socket_is_off_unless_given_a_path(monkeypatch):
    assert gunicorn_config(monkeypatch)["control_socket_disable"] is True
    config = gunicorn_config(monkeypatch, GUNICORN_CONTROL_SOCKET="/run/desk-1.ctl")
    assert config["control_socket"] == "/run/desk-1.ctl"
    assert "control_socket_disable" not in config


def test_json_logging_makes_gunicorn_log_json_too(monkeypatch):
    config = gunicorn_config(monkeypatch, DJANGO_LOG_FORMAT="json")
    formatter = config["logconfig_dict"]["formatters"]["json"]
    assert formatter["()"] == "events.logs.JsonFormatter"
    assert "logconfig_dict" not in gunicorn_config(monkeypatch)


def test_rundesk_starts_gunicorn_with_the_production_config_file():
    with (
        mock.patch.object(rundesk, "_listen_problem", return_value=None),
        mock.patch.object(rundesk.subprocess, "Popen") as popen,
    ):
        rundesk.Command()._start_desk("127.0.0.1", 8123)
    arguments = popen.call_args.args[0]
    assert arguments[arguments.index("--config") + 1] == str(GUNICORN_CONFIG)
    assert arguments[arguments.index("--bind") + 1] == "127.0.0.1:8123"
    assert arguments[-1] == "leadping_web.wsgi"
    assert GUNICORN_CONFIG.exists()


def test_rundesk_says_why_it_cannot_listen_before_starting_anything():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert rundesk._listen_problem("127.0.0.1", port) == (
            f"Port {port} on 127.0.0.1 is taken. Set DESK_PORT to a free port."
        )
    # Free again; a name that resolves; an address of no interface here; a name of nothing.
    assert rundesk._listen_problem("127.0.0.1", port) is None
    assert rundesk._listen_problem("localhost", port) is None
    assert rundesk._listen_problem("192.0.2.1", port) == (
        "DESK_HOST 192.0.2.1 is not an address of this machine."
    )
    assert "neither an address nor a name" in rundesk._listen_problem("nonexistent.invalid", port)


def test_the_desk_boots_under_gunicorn_with_the_config_file(tmp_path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    process = start_gunicorn(port, desk_environment(tmp_path), log)
    try:
        response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        stop(process)
    assert response.status_code == 200
    assert f"request_id={response.headers['X-Request-ID']}" in log.read_text()


def test_gunicorn_s_access_lines_blank_the_api_key_in_a_url(tmp_path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    key = "lp_test_GunicornLogKey_0123"
    environment = desk_environment(
        tmp_path, LEADPING_API_KEY=key, LEADPING_API_BASE_URL="http://127.0.0.1:9"
    )
    process = start_gunicorn(port, environment, log)
    try:
        requests.get(f"http://127.0.0.1:{port}/events/{key}/", timeout=5)
        requests.get(f"http://127.0.0.1:{port}/healthz?k={key.upper()}", timeout=5)
    finally:
        stop(process)
    text = log.read_text()
    assert "/events/[redacted]/" in text
    assert "/healthz?k=[redacted]" in text
    assert key.lower() not in text.lower()


def test_the_desk_logs_json_lines_under_gunicorn_when_asked(tmp_path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    environment = desk_environment(tmp_path, DJANGO_LOG_FORMAT="json")
    process = start_gunicorn(port, environment, log)
    try:
        response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        stop(process)
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    access = [entry for entry in entries if entry["logger"] == "gunicorn.access"]
    assert any(response.headers["X-Request-ID"] in entry["message"] for entry in access)


# --- settings -----------------------------------------------------------------------------


def test_sessions_are_cached_per_process_for_seconds_only(monkeypatch):
    config = desk_settings(monkeypatch)
    assert config["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"
    assert config["SESSION_CACHE_ALIAS"] == "sessions"
    sessions = config["CACHES"]["sessions"]
    assert sessions["BACKEND"] == "leadping_web.local_cache.ShortLivedLocMemCache"
    assert sessions["OPTIONS"]["MAX_TIMEOUT"] == config["LOCAL_COPY_SECONDS"] == 5


def test_with_redis_sessions_still_live_in_the_database_not_in_redis(monkeypatch):
    config = desk_settings(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/9")
    assert config["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"
    assert config["CACHES"]["default"]["BACKEND"] == "leadping_web.redis_cache.RedisCache"
    # Sessions are still read from a per-process copy: Redis never holds a login.
    assert config["SESSION_CACHE_ALIAS"] == "sessions"
    assert config["CACHES"]["sessions"]["BACKEND"].endswith("ShortLivedLocMemCache")


def test_postgresql_is_configured_from_database_url(monkeypatch):
    config = desk_settings(monkeypatch, DATABASE_URL="postgres://desk:pw@db.internal:5432/desk")
    database = config["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["NAME"]) == ("db.internal", "desk")


def test_a_var_dir_that_cannot_be_a_folder_stops_the_desk_naming_it(monkeypatch, tmp_path):
    occupied = tmp_path / "a-file"
    occupied.write_text("")
    with pytest.raises(ImproperlyConfigured, match="LEADPING_VAR_DIR"):
        desk_settings(monkeypatch, LEADPING_VAR_DIR=str(occupied), DJANGO_SECRET_KEY="")


def test_with_a_secret_key_given_the_default_database_still_gets_its_folder(monkeypatch, tmp_path):
    """var/ was made only with the secret key's file: with DJANGO_SECRET_KEY set on a fresh
    checkout, the desk said "the database could not be opened"."""
    var = tmp_path / "fresh" / "var"
    desk_settings(monkeypatch, LEADPING_VAR_DIR=str(var))
    assert var.is_dir()
    assert var.stat().st_mode & 0o777 == 0o700


def test_allowed_hosts_take_names_addresses_and_subdomain_patterns(monkeypatch):
    hosts = "desk.example.com, .example.org,127.0.0.1,[::1],*"
    config = desk_settings(monkeypatch, DJANGO_ALLOWED_HOSTS=hosts)
    assert config["ALLOWED_HOSTS"] == [
        "desk.example.com",
        ".example.org",
        "127.0.0.1",
        "[::1]",
        "*",
    ]


@pytest.mark.parametrize("written", ["HTTP_X_FORWARDED_PROTO", "X-Forwarded-Proto"])
def test_the_proxy_ssl_header_is_the_name_django_reads_however_it_is_written(monkeypatch, written):
    """As written in a proxy's config, "X-Forwarded-Proto" never matched: every request
    through the proxy was redirected to HTTPS again."""
    config = desk_settings(monkeypatch, DJANGO_SECURE_PROXY_SSL_HEADER=f"{written},https")
    assert config["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_a_short_metrics_token_stops_the_desk(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN"):
        desk_settings(monkeypatch, METRICS_TOKEN="short")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "nonsense"),
        ("DATABASE_URL", "postgres://user:secret@host:port/x"),
        ("REDIS_URL", "localhost:6379"),
        ("REDIS_URL", "redis://127.0.0.1:6379/abc"),
        ("REDIS_URL", "redis://:secret@"),
        ("DJANGO_LOG_LEVEL", "verbose"),
        # Every request would be a 400 that does not say why.
        ("DJANGO_ALLOWED_HOSTS", "https://desk.example.com"),
        ("DJANGO_ALLOWED_HOSTS", "desk.example.com:8000"),
        ("DJANGO_ALLOWED_HOSTS", "desk example.com"),
        ("DJANGO_ALLOWED_HOSTS", ",,,"),
        ("DJANGO_SECURE_PROXY_SSL_HEADER", "X Forwarded Proto,https"),
    ],
)
def test_a_malformed_setting_stops_the_desk_naming_it_without_echoing_secrets(
    monkeypatch, name, value
):
    with pytest.raises(ImproperlyConfigured, match=name) as caught:
        desk_settings(monkeypatch, **{name: value})
    assert "secret" not in str(caught.value)


def test_gunicorn_says_what_is_wrong_in_one_line_not_a_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "leadping_web.wsgi"],
        cwd=ROOT,
        env={**os.environ, "WEB_CONCURRENCY": "0"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Configuration error: WEB_CONCURRENCY must be between 1 and 64 (got 0)."
    )


def test_an_unreachable_database_is_one_line_not_a_traceback():
    """make serve runs migrate first: a wrong DATABASE_URL gave Django's whole traceback."""
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"postgres://desk@127.0.0.1:{free_port()}/desk"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Database error: ")
    assert done.stderr.strip().endswith("Check DATABASE_URL.")
    assert "Traceback" not in done.stderr


def test_manage_py_says_what_is_wrong_in_one_line_not_a_traceback():
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "LEADPING_POLL_SECONDS": "abc"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Configuration error: LEADPING_POLL_SECONDS must be a whole number (got 'abc')."
    )


def test_rundesk_leaves_the_addresses_of_make_serve_to_make_serve(monkeypatch):
    """PORT=x (a PaaS's variable, meant for make serve) stopped make run, which listens on
    DESK_HOST:DESK_PORT and never read it."""
    monkeypatch.setenv("PORT", "x")
    monkeypatch.setenv("GUNICORN_BIND", "0.0.0.0:80")
    environment = rundesk._plain_http_environment()
    assert "PORT" not in environment
    assert "GUNICORN_BIND" not in environment


def test_rundesk_keeps_https_protections_off_when_their_variables_are_blank(monkeypatch):
    """As after `set -a; . ./.env.example`, which lists them with no value."""
    monkeypatch.setenv("DJANGO_SECURE_SSL_REDIRECT", "")
    monkeypatch.setenv("DJANGO_HSTS_SECONDS", " ")
    monkeypatch.setenv("DJANGO_SECURE_COOKIES", "true")
    environment = rundesk._plain_http_environment()
    assert environment["DJANGO_SECURE_SSL_REDIRECT"] == "false"
    assert environment["DJANGO_HSTS_SECONDS"] == "0"
    assert environment["DJANGO_SECURE_COOKIES"] == "true"


def test_rundesk_says_so_when_gunicorn_does_not_start():
    exited = mock.Mock(poll=mock.Mock(return_value=1))
    assert not rundesk._wait_until_answering(exited, "127.0.0.1", free_port())


@pytest.mark.parametrize(("calls", "burst"), [("240", 20), ("1000", 20), ("20", 2), ("5", 1)])
def test_the_budget_burst_defaults_to_a_tenth_of_the_calls_at_most_20(monkeypatch, calls, burst):
    assert desk_settings(monkeypatch, LEADPING_BUDGET_CALLS=calls)["LEADPING_BUDGET_BURST"] == burst


def test_json_log_format_picks_the_json_formatter(monkeypatch):
    config = desk_settings(monkeypatch, DJANGO_LOG_FORMAT="JSON")
    assert config["LOGGING"]["handlers"]["console"]["formatter"] == "json"


def test_an_unknown_log_format_is_named(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_LOG_FORMAT"):
        desk_settings(monkeypatch, DJANGO_LOG_FORMAT="xml")


def test_request_ids_from_clients_are_not_trusted_by_default(monkeypatch):
    assert desk_settings(monkeypatch)["TRUST_REQUEST_ID_HEADER"] is False


def test_the_static_root_can_be_moved(monkeypatch, tmp_path):
    assert desk_settings(monkeypatch, DJANGO_STATIC_ROOT=str(tmp_path))["STATIC_ROOT"] == tmp_path


def test_env_choice_accepts_any_case_and_names_the_variable(monkeypatch):
    monkeypatch.setenv("DESK_TEST_CHOICE", "Json")
    assert env_choice("DESK_TEST_CHOICE", "plain", ("plain", "json")) == "json"
    monkeypatch.setenv("DESK_TEST_CHOICE", "yaml")
    with pytest.raises(ImproperlyConfigured, match="DESK_TEST_CHOICE must be one of plain, json"):
        env_choice("DESK_TEST_CHOICE", "plain", ("plain", "json"))


# --- static files -------------------------------------------------------------------------


@pytest.fixture
def manifest_static(settings, tmp_path):
    """Production static storage (hashed, compressed names), collected into a temporary root."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0, ignore_patterns=["admin"])
    return settings.STATIC_ROOT


def test_hashed_static_files_are_cached_for_ever(client, manifest_static):
    url = staticfiles_storage.url("css/desk.css")
    assert url != "/static/css/desk.css"  # the name carries the content hash
    response = client.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=315360000, public, immutable"


def test_unhashed_static_names_are_cached_briefly(client, manifest_static):
    response = client.get("/static/css/desk.css")
    assert response.status_code == 200
    assert "immutable" not in response["Cache-Control"]


def test_static_files_are_served_compressed(client, manifest_static):
    response = client.get(staticfiles_storage.url("css/desk.css"), HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] in {"gzip", "br"}
