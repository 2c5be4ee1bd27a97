import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from leadping_web import env


def test_it_returns_defaults_for_unset_variables(monkeypatch):
    monkeypatch.delenv("DESK_X", raising=False)
    assert env.env_bool("DESK_X", True) is True
    assert env.env_int("DESK_X", 5, minimum=1, maximum=9) == 5
    assert env.env_list("DESK_X", ["a"]) == ["a"]


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("TRUE", True), ("off", False), ("no", False)]
)
def test_it_reads_booleans(monkeypatch, raw, value):
    monkeypatch.setenv("DESK_X", raw)
    assert env.env_bool("DESK_X", not value) is value


@pytest.mark.parametrize(
    ("helper", "raw"),
    [
        (lambda: env.env_bool("DESK_X", False), "maybe"),
        (lambda: env.env_int("DESK_X", 1, minimum=1, maximum=9), "ten"),
        (lambda: env.env_int("DESK_X", 1, minimum=1, maximum=9), "10"),
        (lambda: env.env_float("DESK_X", 1.0, minimum=0.1, maximum=9), "nan"),
        (lambda: env.env_url("DESK_X", "https://x"), "ftp://example.com"),
        (lambda: env.env_url("DESK_X", "https://x"), "https://example.com/?a=1"),
        (lambda: env.env_url("DESK_X", "https://x"), "https://user:pw@example.com"),
        (lambda: env.env_url("DESK_X", "https://x"), "not a url"),
        (lambda: env.env_url("DESK_X", "https://x"), "http://example.com:99999"),
        (lambda: env.env_time_zone("DESK_X", "UTC"), "Mars/Olympus"),
        (lambda: env.env_secret("DESK_X"), "lp_abc def"),
        (lambda: env.env_secret("DESK_X"), "lp_abc\r\nX-Injected: 1"),
    ],
)
def test_it_fails_loudly_on_malformed_values(monkeypatch, helper, raw):
    monkeypatch.setenv("DESK_X", raw)
    with pytest.raises(ImproperlyConfigured, match="DESK_X"):
        helper()


def test_it_strips_a_trailing_slash_from_urls(monkeypatch):
    monkeypatch.setenv("DESK_X", "https://api.leadping.ai/")
    assert env.env_url("DESK_X", "https://x") == "https://api.leadping.ai"


def test_it_splits_lists_on_commas(monkeypatch):
    monkeypatch.setenv("DESK_X", " a.example, b.example ,,")
    assert env.env_list("DESK_X", []) == ["a.example", "b.example"]


def test_settings_fail_at_start_up_on_a_malformed_value(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; settings.DEBUG"],
        env={
            "DJANGO_SETTINGS_MODULE": "leadping_web.settings",
            "LEADPING_POLL_SECONDS": "often",
            "LEADPING_VAR_DIR": str(tmp_path),
            "PATH": "",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "LEADPING_POLL_SECONDS must be a whole number" in result.stderr


def test_env_example_lists_every_variable_the_settings_read():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    read = set(
        re.findall(r'env_\w+\(\s*"([A-Z_]+)"', (root / "leadping_web" / "settings.py").read_text())
    )
    listed = set(re.findall(r"^([A-Z_]+)=", (root / ".env.example").read_text(), re.MULTILINE))
    assert read - listed == set()


def test_a_url_with_credentials_is_refused_without_printing_the_password(monkeypatch):
    monkeypatch.setenv("LEADPING_API_BASE_URL", "https://user:hunter2@api.example.com")
    with pytest.raises(ImproperlyConfigured, match="LEADPING_API_BASE_URL") as caught:
        env.env_url("LEADPING_API_BASE_URL", "https://api.leadping.ai")
    assert "hunter2" not in str(caught.value)
