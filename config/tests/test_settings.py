"""With DEBUG off the portal refuses to start without its secrets, and says which are missing."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "portal.example.com",
    "OIDC_ISSUER": "https://dev-1.okta.com/oauth2/default",
    "OIDC_CLIENT_ID": "client",
    "OIDC_CLIENT_SECRET": "secret",
    "S3_BUCKET": "bucket",
}


def run_check(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    env.update(PRODUCTION_ENV, **overrides)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_passes_with_every_required_setting():
    result = run_check()
    assert result.returncode == 0, result.stderr


def test_missing_secret_key_stops_with_one_line_naming_it():
    result = run_check(SECRET_KEY="")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY" in lines[0]
    assert "ALLOWED_HOSTS" not in lines[0]


def test_every_missing_setting_is_named_at_once():
    result = run_check(ALLOWED_HOSTS="", S3_BUCKET="", OIDC_CLIENT_SECRET="")
    assert result.returncode != 0
    for name in ("ALLOWED_HOSTS", "S3_BUCKET", "OIDC_CLIENT_SECRET"):
        assert name in result.stderr
