"""Create the private bucket and its CORS rule for the site, for local and first-time setup."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from uploads.s3 import S3Error, bucket_create_private, expire_incoming_after_a_day


class Command(BaseCommand):
    help = (
        "Create S3_BUCKET (private, no ACLs) if missing, allow SITE_ORIGIN in its CORS rule and "
        "expire unfinished uploads after a day"
    )

    def handle(self, *args, **options):
        bucket, origin = settings.S3_BUCKET, settings.SITE_ORIGIN
        try:
            created = bucket_create_private(bucket=bucket, origin=origin)
            lifecycle = expire_incoming_after_a_day(bucket=bucket)
        except S3Error as error:
            raise CommandError(str(error)) from error
        state = "created" if created else "already there"
        self.stdout.write(f"Bucket {bucket!r} {state}, private; CORS allows {origin}")
        if lifecycle:
            self.stdout.write("Unfinished uploads (incoming/) expire after a day (lifecycle rule)")
        else:
            self.stdout.write(
                "This S3 has no lifecycle rules: run `python manage.py uploads_cleanup` daily"
            )
