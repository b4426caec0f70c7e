"""Deleting old rows in bounded batches, safe when several machines run the same job at once."""

from __future__ import annotations

from django.db import transaction

BATCH_SIZE = 1000


def delete_in_batches(queryset, *, batch_size: int = BATCH_SIZE, after_batch=None) -> int:
    """Delete the rows of `queryset`, at most `batch_size` per short transaction; answers how
    many this run deleted.

    On PostgreSQL each batch is claimed with SELECT ... FOR UPDATE SKIP LOCKED, so a second
    runner takes other rows instead of waiting for these. Where rows can't be locked (SQLite)
    two runners may pick the same ones: whoever deletes second deletes none of them, which is
    no error. `after_batch(rows)` gets each batch's rows (the fields the queryset loads) once
    its transaction has committed, e.g. to remove what they kept outside the database.
    """
    label, deleted = queryset.model._meta.label, 0
    while True:
        with transaction.atomic():
            rows = list(queryset.select_for_update(skip_locked=True).order_by("pk")[:batch_size])
            if rows:
                pks = [row.pk for row in rows]
                _, by_model = queryset.model.objects.filter(pk__in=pks).delete()
                deleted += by_model.get(label, 0)
        if rows and after_batch is not None:
            after_batch(rows)
        if len(rows) < batch_size:  # the last batch (or the rest is another runner's)
            return deleted
