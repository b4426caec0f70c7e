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
    "SITE_ORIGIN": "https://portal.example.com",
}


def manage_py(*args: str, env: dict) -> subprocess.CompletedProcess:
    """`manage.py <args>` in a fresh process with exactly this environment."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_check(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    env.update(PRODUCTION_ENV, **overrides)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return manage_py("check", env=env)


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


# -- one settings surface --------------------------------------------------------------------

SETTINGS_FILE = ROOT / "config" / "settings.py"
APP_PACKAGES = ("accounts", "orders", "uploads", "audit", "portal", "config")


def environment_variables_read_by_settings() -> set[str]:
    """Every variable config/settings.py reads through django-environ (env.str("NAME"), ...)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(SETTINGS_FILE.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(node.args[0].value)
    return names


def readme_settings_table() -> dict[str, bool]:
    """Variable -> "required with DEBUG off", from the README's Configuration table."""
    import re

    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
            rows[name] = cells[1] == "yes"
    return rows


def test_the_readme_table_lists_exactly_the_variables_settings_reads():
    from config.settings import REQUIRED_IN_PRODUCTION

    table = readme_settings_table()
    read = environment_variables_read_by_settings()
    assert sorted(set(table) - read) == [], "in the README but not read by config/settings.py"
    assert sorted(read - set(table)) == [], "read by config/settings.py but not in the README"
    assert sorted(name for name, required in table.items() if required) == sorted(
        REQUIRED_IN_PRODUCTION
    )


def test_apps_read_only_settings_that_are_declared():
    """No hidden defaults: every settings.NAME the code reads exists in config/settings.py or
    Django's own defaults, and nothing reads a setting with getattr and a fallback."""
    import re

    from django.conf import global_settings

    import config.settings as declared

    unknown, hidden = [], []
    for package in APP_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            source = path.read_text()
            for name in set(re.findall(r"\bsettings\.([A-Z][A-Z0-9_]+)\b", source)):
                if not hasattr(declared, name) and not hasattr(global_settings, name):
                    unknown.append(f"{path.relative_to(ROOT)}: {name}")
            if re.search(r"getattr\(\s*settings\s*,[^,()]+,", source):  # with a fallback
                hidden.append(str(path.relative_to(ROOT)))
    assert unknown == []
    assert hidden == []
