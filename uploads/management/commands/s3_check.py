"""Check the bucket: it exists, we can write and delete, CORS allows the site, it is private."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from uploads.s3 import bucket_check_results


class Command(BaseCommand):
    help = "Check the S3 bucket (S3_BUCKET) the way the portal uses it; exits non-zero on failure."

    def handle(self, *args, **options):
        results = bucket_check_results(bucket=settings.S3_BUCKET, origin=settings.SITE_ORIGIN)
        for name, problem in results:
            if problem is None:
                self.stdout.write(f"ok    {name}")
            else:
                self.stdout.write(f"FAIL  {name}: {problem}")
        failed = sum(problem is not None for _, problem in results)
        if failed:
            raise CommandError(f"{failed} of {len(results)} S3 checks failed")
