"""Delete share links long past their end: run it daily (README "Scheduled work")."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.purge import BATCH_SIZE
from uploads.links import links_purge


class Command(BaseCommand):
    help = (
        "Delete share links that expired or were revoked more than SHARE_RETENTION_DAYS ago, "
        "with their view counts in Redis (the images stay); safe to run on several machines "
        "at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help="rows per delete (default 1000)"
        )

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1, not {batch_size}")
        deleted = links_purge(batch_size=batch_size)
        noun = "share link" if deleted == 1 else "share links"
        days = settings.SHARE_RETENTION_DAYS
        age = "1 day" if days == 1 else f"{days} days"
        self.stdout.write(f"Deleted {deleted} {noun} that ended more than {age} ago")
