"""Distinct viewers of share links: a keyed hash per viewer, counted with HyperLogLog.

TO BE WRITTEN (helper "share"): Redis PFADD/PFCOUNT when REDIS_URL is set, else a sketch in
ShareLink.viewer_sketch (uploads/hll.py).
"""

from __future__ import annotations


def viewer_id(request) -> str:
    """HMAC (key derived from SECRET_KEY) of the client IP and User-Agent; no raw IP kept."""
    raise NotImplementedError


def add(link, viewer: str) -> None:
    raise NotImplementedError


def count(link) -> int:
    raise NotImplementedError
