"""The local stack really enforces what production S3 and a real provider would."""

import time

import pytest
import requests
from botocore.exceptions import ClientError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


@pytest.fixture
def stored_object(local_stack):
    key = f"tests/{time.monotonic_ns()}.txt"
    local_stack.s3_client().put_object(Bucket=local_stack.bucket, Key=key, Body=b"private")
    return key


def test_provider_publishes_discovery_for_its_issuer(local_stack):
    url = local_stack.issuer + "/.well-known/openid-configuration"
    document = requests.get(url, timeout=5).json()
    assert document["issuer"] == local_stack.issuer
    assert document["authorization_endpoint"].startswith(local_stack.issuer)


def test_anonymous_read_of_an_object_is_refused(local_stack, stored_object):
    url = f"{local_stack.s3_endpoint_url}/{local_stack.bucket}/{stored_object}"
    assert requests.get(url, timeout=5).status_code == 403


def test_anonymous_listing_of_the_bucket_is_refused(local_stack):
    url = f"{local_stack.s3_endpoint_url}/{local_stack.bucket}"
    assert requests.get(url, timeout=5).status_code == 403


def test_presigned_url_works_and_a_tampered_one_does_not(local_stack, stored_object):
    client = local_stack.s3_client()
    params = {"Bucket": local_stack.bucket, "Key": stored_object}
    url = client.generate_presigned_url("get_object", Params=params, ExpiresIn=60)
    assert requests.get(url, timeout=5).content == b"private"
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert requests.get(tampered, timeout=5).status_code == 403


def test_expired_presigned_url_is_refused(local_stack, stored_object):
    params = {"Bucket": local_stack.bucket, "Key": stored_object}
    url = local_stack.s3_client().generate_presigned_url("get_object", Params=params, ExpiresIn=1)
    time.sleep(2.5)
    assert requests.get(url, timeout=5).status_code == 403


def test_wrong_secret_key_is_refused(local_stack):
    intruder = local_stack.s3_client(aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as caught:
        intruder.list_objects_v2(Bucket=local_stack.bucket)
    assert caught.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")


def test_default_storage_keeps_files_private(local_stack):
    name = default_storage.save("tests/hello.txt", ContentFile(b"hello"))
    signed = default_storage.url(name)
    assert "X-Amz-Signature=" in signed
    assert requests.get(signed, timeout=5).content == b"hello"
    assert requests.get(signed.split("?")[0], timeout=5).status_code == 403
    # A second save under the same name gets its own key instead of overwriting the first.
    assert default_storage.save("tests/hello.txt", ContentFile(b"other")) != name
