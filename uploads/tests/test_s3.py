"""s3_check and s3_bootstrap against this session's real SeaweedFS, one fresh bucket per test."""

import json
import os
import re
import uuid

import pytest
import requests
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from config.tests.test_settings import manage_py
from uploads import s3
from uploads.checks import check_bucket, check_storage_settings

ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture
def bucket(local_stack):
    """A bucket name no other test uses, set as S3_BUCKET; the bucket is removed afterwards."""
    name = f"check-{uuid.uuid4().hex[:12]}"
    with override_settings(S3_BUCKET=name, SITE_ORIGIN=ORIGIN):
        yield name
    client = local_stack.s3_client()
    if name in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        for item in client.list_objects_v2(Bucket=name).get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
        client.delete_bucket(Bucket=name)


def run(command, **options):
    """Run a management command: (its output, the CommandError's message or None)."""
    from io import StringIO

    out = StringIO()
    try:
        call_command(command, stdout=out, **options)
    except CommandError as error:
        return out.getvalue(), str(error)
    return out.getvalue(), None


def line(output, name):
    [found] = [row for row in output.splitlines() if name in row]
    return found


def test_s3_check_passes_after_bootstrap_on_a_fresh_bucket(bucket, local_stack):
    output, error = run("s3_bootstrap")
    assert error is None
    assert f"Bucket '{bucket}' created" in output

    output, error = run("s3_check")
    assert error is None, output
    assert output.splitlines() == [
        "ok    bucket exists",
        "ok    credentials can write and delete",
        "ok    CORS allows SITE_ORIGIN",
        "ok    anonymous GET refused",
    ]
    # The probes were deleted again.
    assert local_stack.s3_client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_bootstrap_is_idempotent_and_keeps_the_bucket_private(bucket, local_stack):
    run("s3_bootstrap")
    output, error = run("s3_bootstrap")
    assert error is None
    assert f"Bucket '{bucket}' already there" in output
    rules = local_stack.s3_client().get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert len(rules) == 1
    assert rules[0]["AllowedOrigins"] == [ORIGIN]
    assert sorted(rules[0]["AllowedMethods"]) == ["GET", "POST", "PUT"]
    # A real object, read without a signature: refused.
    local_stack.s3_client().put_object(Bucket=bucket, Key="users/1/a.jpg", Body=b"x")
    anonymous = requests.get(f"{local_stack.s3_endpoint_url}/{bucket}/users/1/a.jpg", timeout=10)
    assert anonymous.status_code == 403


def test_bootstrap_answers_a_preflight_from_the_site_origin_only(bucket, local_stack):
    run("s3_bootstrap")
    url = f"{local_stack.s3_endpoint_url}/{bucket}/incoming/1/x"

    def preflight(origin):
        headers = {"Origin": origin, "Access-Control-Request-Method": "PUT"}
        return requests.options(url, headers=headers, timeout=10)

    assert preflight(ORIGIN).headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "Access-Control-Allow-Origin" not in preflight("https://evil.example").headers


def test_missing_bucket_is_named_and_the_rest_not_tried(bucket):
    output, error = run("s3_check")
    assert error == "4 of 4 S3 checks failed"
    assert line(output, "bucket exists") == (
        f"FAIL  bucket exists: bucket '{bucket}' does not exist: check S3_BUCKET, "
        "or run `python manage.py s3_bootstrap` to create it"
    )
    assert "not checked" in line(output, "credentials can write and delete")


def test_wrong_secret_key_names_the_credentials(bucket):
    run("s3_bootstrap")
    with override_settings(AWS_SECRET_ACCESS_KEY="wrong-secret"):
        output, error = run("s3_check")
        # HeadBucket is signed too, so a wrong secret already fails the first check (403).
        assert error is not None
        assert "AWS_SECRET_ACCESS_KEY" in line(output, "FAIL  bucket exists")
        with pytest.raises(s3.S3Error, match="AWS_SECRET_ACCESS_KEY"):
            s3.check_write_and_delete(bucket=bucket)


def test_cors_for_another_origin_fails_naming_site_origin(bucket):
    with override_settings(SITE_ORIGIN="https://other.example"):
        run("s3_bootstrap")
    output, error = run("s3_check")
    assert error == "1 of 4 S3 checks failed"
    assert line(output, "CORS") == (
        f"FAIL  CORS allows SITE_ORIGIN: bucket '{bucket}' has no CORS rule letting "
        f"'{ORIGIN}' (SITE_ORIGIN) POST and PUT: run `python manage.py s3_bootstrap`, "
        "or add the rule to the bucket"
    )
    assert line(output, "anonymous") == "ok    anonymous GET refused"


def test_no_cors_rule_at_all_fails(bucket, local_stack):
    run("s3_bootstrap")
    local_stack.s3_client().delete_bucket_cors(Bucket=bucket)
    output, error = run("s3_check")
    assert error == "1 of 4 S3 checks failed"
    assert line(output, "CORS").startswith("FAIL  CORS allows SITE_ORIGIN: ")


def test_a_public_bucket_policy_is_caught(bucket, local_stack):
    run("s3_bootstrap")
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }
    local_stack.s3_client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read))
    output, error = run("s3_check")
    assert error == "1 of 4 S3 checks failed"
    assert line(output, "anonymous") == (
        f"FAIL  anonymous GET refused: bucket '{bucket}' serves objects to anonymous readers: "
        "remove its public bucket policy or ACL (every object must stay private)"
    )


def test_unreachable_endpoint_names_s3_endpoint_url(bucket):
    with override_settings(S3_ENDPOINT_URL="http://127.0.0.1:9"):
        output, error = run("s3_check")
    assert error == "4 of 4 S3 checks failed"
    assert "check S3_ENDPOINT_URL" in line(output, "bucket exists")


def manage(*args, local_stack, bucket):
    env = {
        **os.environ,
        "DEBUG": "1",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": local_stack.s3_endpoint_url,
        "AWS_ACCESS_KEY_ID": local_stack.access_key,
        "AWS_SECRET_ACCESS_KEY": local_stack.secret_key,
        "SITE_ORIGIN": ORIGIN,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return manage_py(*args, env=env)


def test_exit_status_of_the_real_commands(bucket, local_stack):
    failed = manage("s3_check", local_stack=local_stack, bucket=bucket)
    assert failed.returncode != 0
    assert "does not exist" in failed.stdout
    assert "S3 checks failed" in failed.stderr
    assert manage("s3_bootstrap", local_stack=local_stack, bucket=bucket).returncode == 0
    passed = manage("s3_check", local_stack=local_stack, bucket=bucket)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.count("ok    ") == 4


def test_deploy_check_reports_the_bucket_problems(bucket):
    [error] = [e for e in check_bucket() if "bucket exists" in e.msg]
    assert error.id == "uploads.E003"
    run("s3_bootstrap")
    assert check_bucket() == []


@pytest.mark.parametrize(
    "origin",
    ["127.0.0.1:8000", "http://127.0.0.1:8000/", "https://portal.example.com/app", "ftp://x"],
)
def test_site_origin_that_is_not_an_origin_stops_start_up(origin):
    with override_settings(SITE_ORIGIN=origin):
        [error] = check_storage_settings()
    assert error.id == "uploads.E002"
    assert error.msg.startswith(f'SITE_ORIGIN: "{origin}" — ')


def test_site_origin_check_accepts_an_origin():
    with override_settings(SITE_ORIGIN="https://portal.example.com:8443"):
        assert check_storage_settings() == []


def test_keys_are_made_on_the_server():
    assert re.fullmatch(r"users/7/[0-9a-f]{32}\.jpg", s3.original_key(user_id=7, ext=".JPG"))
    assert re.fullmatch(r"users/7/thumbs/[0-9a-f]{32}\.webp", s3.thumbnail_key(user_id=7))
    assert re.fullmatch(r"incoming/7/[0-9a-f]{32}", s3.incoming_key(user_id=7))
    assert s3.incoming_key(user_id=7) != s3.incoming_key(user_id=7)
