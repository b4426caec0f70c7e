"""The one place that talks to S3 through boto3; views, services and commands call these.

Every function takes plain values and answers plain values (or raises `S3Error` with a message
that says what to fix), so callers never build S3 requests or read botocore's error shapes.
"""

from __future__ import annotations

import time
import uuid
from functools import cache

import boto3
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

PROBE_PREFIX = "portal-checks/"
# What a browser's direct upload sends: presigned POST (form fields) and presigned PUT/multipart.
CORS_METHODS = ["GET", "PUT", "POST"]
CORS_ALLOWED_HEADERS = ["*"]
CORS_EXPOSE_HEADERS = ["ETag"]  # multipart uploads need each part's ETag
CORS_MAX_AGE_SECONDS = 3600
HTTP_TIMEOUT_SECONDS = 10
INCOMING_PREFIX = "incoming/"
# One thread: boto3's default of ten grew the process by ~110 MB for a 200 MB file (FIELD-NOTES).
TRANSFER = TransferConfig(use_threads=False)
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys per call
# How long one HeadBucket answer to "is the store up?" is trusted, so pages don't each ask S3.
STORE_CHECK_SECONDS = 5.0
# The check gives up fast (no retries either): a page waits on it.
STORE_CHECK_TIMEOUT = 2.0
# By (endpoint, bucket, key): (when, None or what failed).
_store_checked: dict[tuple, tuple[float, str | None]] = {}


class S3Error(Exception):
    """An S3 call failed; the message says what to fix."""


def original_key(*, user_id: int, ext: str) -> str:
    return f"users/{user_id}/{uuid.uuid4().hex}.{ext.lower().lstrip('.')}"


def thumbnail_key(*, user_id: int) -> str:
    return f"users/{user_id}/thumbs/{uuid.uuid4().hex}.webp"


def incoming_key(*, user_id: int) -> str:
    return f"{INCOMING_PREFIX}{user_id}/{uuid.uuid4().hex}"


def user_prefix(user_id: int) -> str:
    return f"users/{user_id}/"


def s3_client():
    """The boto3 client for the configured S3 (one per settings, reused: building one is slow)."""
    return _client(
        endpoint_url=settings.S3_ENDPOINT_URL,
        region=settings.S3_REGION,
        access_key=settings.AWS_ACCESS_KEY_ID,
        secret_key=settings.AWS_SECRET_ACCESS_KEY,
    )


def probe_client(*, timeout: float):
    """A client for health probes: short connect and read timeouts and no retries, so a probe
    answers within about `timeout` even when S3 hangs."""
    return _client(
        endpoint_url=settings.S3_ENDPOINT_URL,
        region=settings.S3_REGION,
        access_key=settings.AWS_ACCESS_KEY_ID,
        secret_key=settings.AWS_SECRET_ACCESS_KEY,
        timeout=timeout,
    )


@cache
def _client(*, endpoint_url, region, access_key, secret_key, timeout=None):
    # Some S3-compatible servers reject boto3's default checksum headers (FIELD-NOTES).
    config = Config(signature_version="s3v4", request_checksum_calculation="when_required")
    if timeout is not None:
        config = config.merge(
            Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1})
        )
    options = {"region_name": region, "config": config}
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if access_key:  # without keys boto3 uses its usual chain (instance role, profile, ...)
        options["aws_access_key_id"] = access_key
        options["aws_secret_access_key"] = secret_key
    return boto3.client("s3", **options)


def require_store() -> None:
    """Raise S3Error unless the bucket answered a HeadBucket in the last few seconds.

    Pages of images need no S3 call of their own (their URLs are signed here), so without this
    a down store would show pages of broken pictures, and uploads would start that can't finish.
    """
    where = (settings.S3_ENDPOINT_URL, settings.S3_BUCKET, settings.AWS_ACCESS_KEY_ID)
    checked_at, problem = _store_checked.get(where, (float("-inf"), None))
    now = time.monotonic()
    if now - checked_at >= STORE_CHECK_SECONDS:
        try:
            bucket_answers(bucket=settings.S3_BUCKET, timeout=STORE_CHECK_TIMEOUT)
            problem = None
        except S3Error as error:
            problem = str(error)
        _store_checked[where] = (now, problem)
    if problem:
        raise S3Error(problem)


def forget_store_check() -> None:
    """The next require_store asks S3 again (for tests that stop and start it)."""
    _store_checked.clear()


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def bucket_exists(*, bucket: str) -> bool:
    """HeadBucket: True if it exists and these credentials may use it; False if it is missing."""
    try:
        s3_client().head_bucket(Bucket=bucket)
    except ClientError as error:
        if _code(error) in ("404", "NoSuchBucket"):
            return False
        raise S3Error(
            f"bucket {bucket!r} answered {_code(error) or error}: check AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY and S3_REGION"
        ) from error
    except BotoCoreError as error:
        raise S3Error(f"S3 not reachable ({error}): check S3_ENDPOINT_URL") from error
    return True


def bucket_answers(*, bucket: str, timeout: float) -> None:
    """HeadBucket through the probe client (reads nothing, writes nothing); raises S3Error with
    a short reason that names the failure but no address or key."""
    try:
        probe_client(timeout=timeout).head_bucket(Bucket=bucket)
    except ClientError as error:
        code = _code(error)
        if code in ("404", "NoSuchBucket"):
            raise S3Error(f"bucket not found ({code})") from error
        if code in ("403", "AccessDenied"):
            raise S3Error(f"access denied ({code})") from error
        raise S3Error(f"S3 refused HeadBucket ({code or type(error).__name__})") from error
    except BotoCoreError as error:
        raise S3Error(f"S3 not reachable ({type(error).__name__})") from error


def check_write_and_delete(*, bucket: str) -> None:
    """Put a small probe object under a key of our own and delete it again."""
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    client = s3_client()
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"portal s3_check probe")
        client.delete_object(Bucket=bucket, Key=key)
    except ClientError as error:
        raise S3Error(
            f"could not write and delete {key!r} in bucket {bucket!r} ({_code(error)}): "
            "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and their permissions "
            "(s3:PutObject, s3:DeleteObject)"
        ) from error
    except BotoCoreError as error:
        raise S3Error(f"S3 not reachable ({error}): check S3_ENDPOINT_URL") from error


def cors_allows_origin(*, bucket: str, origin: str) -> bool:
    """True if one of the bucket's CORS rules lets `origin` POST and PUT (direct uploads)."""
    try:
        rules = s3_client().get_bucket_cors(Bucket=bucket)["CORSRules"]
    except ClientError as error:
        if _code(error) == "NoSuchCORSConfiguration":
            return False
        raise S3Error(f"could not read the CORS rules of bucket {bucket!r}: {error}") from error
    for rule in rules:
        origins = rule.get("AllowedOrigins", [])
        methods = set(rule.get("AllowedMethods", []))
        if (origin in origins or "*" in origins) and {"POST", "PUT"} <= methods:
            return True
    return False


def anonymous_get_refused(*, bucket: str) -> bool:
    """True if an unsigned GET of an object in the bucket is refused (403), as it must be.

    A real object is put there first, so the answer can't be a mere 404; it is deleted after.
    """
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    client = s3_client()
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"portal s3_check probe")
        try:
            # The object's plain (unsigned) address: a presigned URL without its query string.
            url = client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}
            ).split("?", 1)[0]
            status = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS).status_code
        finally:
            client.delete_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError, requests.RequestException) as error:
        raise S3Error(f"could not try an anonymous GET in bucket {bucket!r}: {error}") from error
    return status == 403


def bucket_create_private(*, bucket: str, origin: str) -> bool:
    """Create the bucket if missing (never with an ACL) and set its CORS rule for `origin`.

    Answers True if the bucket was created now. Running it again changes nothing more.
    """
    client = s3_client()
    created = not bucket_exists(bucket=bucket)
    options = {"Bucket": bucket}
    if settings.S3_REGION != "us-east-1":  # AWS refuses us-east-1 as a LocationConstraint
        options["CreateBucketConfiguration"] = {"LocationConstraint": settings.S3_REGION}
    try:
        if created:
            client.create_bucket(**options)  # no ACL argument: the bucket stays private
        client.put_bucket_cors(
            Bucket=bucket,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedOrigins": [origin],
                        "AllowedMethods": CORS_METHODS,
                        "AllowedHeaders": CORS_ALLOWED_HEADERS,
                        "ExposeHeaders": CORS_EXPOSE_HEADERS,
                        "MaxAgeSeconds": CORS_MAX_AGE_SECONDS,
                    }
                ]
            },
        )
    except (ClientError, BotoCoreError) as error:
        raise S3Error(f"could not set up bucket {bucket!r}: {error}") from error
    return created


def bucket_check_results(*, bucket: str, origin: str) -> list[tuple[str, str | None]]:
    """The four checks of the bucket, in order: (what was checked, None or what to fix).

    Once the bucket is missing or unreachable, the later checks are not tried.
    """
    results = []
    try:
        exists = bucket_exists(bucket=bucket)
    except S3Error as error:
        exists, problem = False, str(error)
    else:
        problem = (
            None
            if exists
            else (
                f"bucket {bucket!r} does not exist: check S3_BUCKET, or run "
                "`python manage.py s3_bootstrap` to create it"
            )
        )
    results.append(("bucket exists", problem))
    checks = [
        ("credentials can write and delete", lambda: _problem(check_write_and_delete, bucket)),
        ("CORS allows SITE_ORIGIN", lambda: _cors_problem(bucket, origin)),
        ("anonymous GET refused", lambda: _anonymous_problem(bucket)),
    ]
    for name, check in checks:
        results.append((name, check() if exists else "not checked: the bucket is not usable"))
    return results


def _problem(check, bucket):
    try:
        check(bucket=bucket)
    except S3Error as error:
        return str(error)
    return None


def _cors_problem(bucket, origin):
    try:
        if cors_allows_origin(bucket=bucket, origin=origin):
            return None
    except S3Error as error:
        return str(error)
    return (
        f"bucket {bucket!r} has no CORS rule letting {origin!r} (SITE_ORIGIN) POST and PUT: "
        "run `python manage.py s3_bootstrap`, or add the rule to the bucket"
    )


def _anonymous_problem(bucket):
    try:
        if anonymous_get_refused(bucket=bucket):
            return None
    except S3Error as error:
        return str(error)
    return (
        f"bucket {bucket!r} serves objects to anonymous readers: remove its public bucket "
        "policy or ACL (every object must stay private)"
    )


# -- objects -----------------------------------------------------------------------------------


def _unreachable(error) -> S3Error:
    return S3Error(f"the image store is not answering ({error}); try again shortly")


def put_file(*, key: str, file, content_type: str, content_disposition: str) -> None:
    """Store `file` (an open binary file) under `key`, streamed, with the headers it is served
    with."""
    try:
        s3_client().upload_fileobj(
            file,
            settings.S3_BUCKET,
            key,
            ExtraArgs={"ContentType": content_type, "ContentDisposition": content_disposition},
            Config=TRANSFER,
        )
    except (ClientError, BotoCoreError) as error:
        raise _unreachable(error) from error


def object_size(*, key: str) -> int | None:
    """The object's size in bytes, or None when there is no such object."""
    try:
        return s3_client().head_object(Bucket=settings.S3_BUCKET, Key=key)["ContentLength"]
    except ClientError as error:
        if _code(error) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise _unreachable(error) from error
    except BotoCoreError as error:
        raise _unreachable(error) from error


def download_to(*, key: str, file) -> None:
    """Stream the object into `file` (an open binary file), without holding it in memory."""
    try:
        s3_client().download_fileobj(settings.S3_BUCKET, key, file, Config=TRANSFER)
    except (ClientError, BotoCoreError) as error:
        raise _unreachable(error) from error


def delete_keys(keys) -> int:
    """Delete these objects, 1,000 per DeleteObjects call; answers how many were asked for."""
    keys = list(keys)
    client = s3_client()
    try:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            answer = client.delete_objects(
                Bucket=settings.S3_BUCKET,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise S3Error(f"could not delete {first.get('Key')!r}: {first.get('Message')}")
    except (ClientError, BotoCoreError) as error:
        raise _unreachable(error) from error
    return len(keys)


def keys_under(prefix: str, *, older_than=None):
    """The keys under `prefix` (all, or those last modified before `older_than`), page by
    page."""
    paginator = s3_client().get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=settings.S3_BUCKET, Prefix=prefix):
            for item in page.get("Contents", []):
                if older_than is None or item["LastModified"] < older_than:
                    yield item["Key"]
    except (ClientError, BotoCoreError) as error:
        raise _unreachable(error) from error


def delete_prefix(prefix: str) -> int:
    """Remove every object under `prefix` ("remove all the files under a folder")."""
    return delete_keys(list(keys_under(prefix)))


def presigned_post(*, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict:
    """A browser form upload straight to S3 of one object: {"url", "fields"}.

    S3 itself enforces the policy: this key only, 1 byte to `max_bytes`, a Content-Type that
    starts with image/, and the expiry. `fields` is every form field to send before the file.
    """
    try:
        return s3_client().generate_presigned_post(
            Bucket=settings.S3_BUCKET,
            Key=key,
            Fields={"Content-Type": content_type, "success_action_status": "201"},
            Conditions=[
                ["content-length-range", 1, max_bytes],
                ["starts-with", "$Content-Type", "image/"],
                {"success_action_status": "201"},
            ],
            ExpiresIn=expires_in,
        )
    except (ClientError, BotoCoreError) as error:
        raise _unreachable(error) from error


def expire_incoming_after_a_day(*, bucket: str) -> bool:
    """A lifecycle rule removing `incoming/` objects after a day, where the S3 supports one.

    Answers False when it doesn't; `manage.py uploads_cleanup` does the same work either way.
    """
    try:
        s3_client().put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "portal-incoming-expire",
                        "Filter": {"Prefix": INCOMING_PREFIX},
                        "Status": "Enabled",
                        "Expiration": {"Days": 1},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    }
                ]
            },
        )
    except ClientError as error:
        if _code(error) in ("NotImplemented", "501", "MalformedXML"):
            return False
        raise S3Error(f"could not set the lifecycle rule of bucket {bucket!r}: {error}") from error
    except BotoCoreError as error:
        raise _unreachable(error) from error
    return True
