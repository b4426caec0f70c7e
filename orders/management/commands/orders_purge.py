"""Delete expired Idempotency-Keys: run it daily (README "Scheduled work")."""

from django.core.management.base import BaseCommand, CommandError

from orders.services import IDEMPOTENCY_KEY_HOURS, idempotency_keys_purge
from portal.purge import BATCH_SIZE


class Command(BaseCommand):
    help = (
        f"Delete Idempotency-Keys older than {IDEMPOTENCY_KEY_HOURS} hours (the orders stay); "
        "safe to run on several machines at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help="rows per delete (default 1000)"
        )

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1, not {batch_size}")
        deleted = idempotency_keys_purge(batch_size=batch_size)
        noun = "Idempotency-Key" if deleted == 1 else "Idempotency-Keys"
        self.stdout.write(
            f"Deleted {deleted} expired {noun} (older than {IDEMPOTENCY_KEY_HOURS} hours)"
        )
