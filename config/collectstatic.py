"""Collect the static files for `make serve`, safe beside servers already running from this
checkout (python -m config.collectstatic).

collectstatic rewrites and recompresses every hashed file in place, so a server reading
staticfiles/ meanwhile could send a half-written file. Instead each run collects into a fresh
directory under .staticfiles/, named after its content, and points the `staticfiles` symlink at
it in one rename; runs take turns on a lock. Each server resolves the symlink once at start
(settings.STATIC_ROOT), so it keeps serving the build it started with.
"""

import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Builds kept besides the current one, for servers started before the last few changes.
KEEP_OLDER_BUILDS = 3


def content_digest(root: Path) -> str:
    """A name for a build: the hash of every file's path and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def point_link_at(link: Path, build: Path) -> None:
    """Make `link` a symlink to `build`, atomically for anyone reading it."""
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)  # a directory from a plain `collectstatic` before this scheme
    staged = build.parent / f".link-{os.getpid()}"
    staged.unlink(missing_ok=True)
    staged.symlink_to(os.path.relpath(build, link.parent))
    staged.replace(link)


def prune(builds: Path, current: Path) -> None:
    older = sorted(
        (p for p in builds.iterdir() if p.is_dir() and p != current and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in older[KEEP_OLDER_BUILDS:]:
        shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    link = settings.BASE_DIR / "staticfiles"
    builds = settings.BASE_DIR / ".staticfiles"
    builds.mkdir(exist_ok=True)
    with open(builds / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        staging = Path(tempfile.mkdtemp(prefix=".collecting-", dir=builds))
        try:
            # Before anything builds the staticfiles storage, which reads STATIC_ROOT once.
            settings.STATIC_ROOT = str(staging)
            call_command("collectstatic", interactive=False, verbosity=0)
            build = builds / content_digest(staging)
            if build.is_dir():
                shutil.rmtree(staging)  # the same files as a build we have: reuse it
                os.utime(build)
            else:
                staging.rename(build)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        point_link_at(link, build)
        prune(builds, build)
    sys.stdout.write(f"static files: {link.name} -> {build.relative_to(settings.BASE_DIR)}\n")


if __name__ == "__main__":
    main()
