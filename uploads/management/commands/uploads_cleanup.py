"""Remove direct uploads never completed: incoming/ objects and pending rows older than a day.

Run it daily (cron, a scheduled task) where the S3 has no lifecycle rules; where it has them,
`s3_bootstrap` sets one for incoming/ as well, and this still removes the database rows.
"""

from django.core.management.base import BaseCommand, CommandError

from uploads.s3 import S3Error
from uploads.services import STALE_UPLOAD_AGE, uploads_cleanup


def _age(age) -> str:
    days = age.days
    return f"{days} day" if days == 1 else f"{days} days"


class Command(BaseCommand):
    help = (
        "Remove unfinished direct uploads older than a day: their incoming/ objects in S3 and "
        "their pending-upload records; exits non-zero when S3 can't be reached."
    )

    def handle(self, *args, **options):
        try:
            objects, records = uploads_cleanup()
        except S3Error as error:
            raise CommandError(
                f"Nothing removed: {error}. Run `python manage.py s3_check` to see what to fix."
            ) from error
        # An unfinished upload is one record and, if the browser sent its file, one object.
        uploads = max(objects, records)
        noun = "upload" if uploads == 1 else "uploads"
        self.stdout.write(
            f"Removed {uploads} unfinished {noun} ({objects} {_plural(objects, 'object')}, "
            f"{records} {_plural(records, 'record')}) older than {_age(STALE_UPLOAD_AGE)}"
        )


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"
