"""Form uploads go to a temporary file as they arrive, and stop being kept past the size limit.

Django's temporary-file handler never holds a file in memory; this one also stops writing a
file once it passes UPLOAD_MAX_BYTES (the rest of it is read and dropped, so the browser gets
our answer instead of a reset connection) and notes the refusal on the request for the view.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > settings.UPLOAD_MAX_BYTES:
            refused = getattr(self.request, "uploads_too_large", [])
            refused.append(self.file_name)
            self.request.uploads_too_large = refused
            raise SkipFile
        return super().receive_data_chunk(raw_data, start)
