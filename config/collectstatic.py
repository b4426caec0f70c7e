"""Collect the static files for `make serve`, safe beside servers already running from this
checkout (python -m config.collectstatic).

collectstatic rewrites and recompresses every hashed file in place, so a server reading
staticfiles/ meanwhile could send a half-written file. Instead each run collects into a fresh
directory under .staticfiles/, named after what it is made from (the source files, the
storage backend and the versions that process them), and points the `staticfiles` symlink at it
in one rename; runs take turns on a lock, and a build that exists is reused without collecting.
Each server resolves the symlink once at start (settings.STATIC_ROOT), so it keeps serving the
build it started with.
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


def sources_digest() -> str:
    """A name for a build: every source file's path and bytes (as collectstatic finds them),
    the staticfiles backend, and the Django and whitenoise versions that hash and compress."""
    from importlib.metadata import version

    from django.apps import apps
    from django.conf import settings
    from django.contrib.staticfiles.finders import get_finders

    ignore = apps.get_app_config("staticfiles").ignore_patterns
    found = sorted(
        (path, storage.path(path))
        for finder in get_finders()
        for path, storage in finder.list(ignore)
    )
    recipe = (settings.STORAGES["staticfiles"]["BACKEND"], version("django"), version("whitenoise"))
    digest = hashlib.sha256("\0".join(recipe).encode())
    for path, full_path in found:
        digest.update(path.encode() + b"\0")
        digest.update(hashlib.sha256(Path(full_path).read_bytes()).digest())
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
        build = builds / sources_digest()
        if build.is_dir():
            os.utime(build)  # made from the same files: reuse it (and keep it longest)
        else:
            staging = Path(tempfile.mkdtemp(prefix=".collecting-", dir=builds))
            try:
                # Before anything builds the staticfiles storage, which reads STATIC_ROOT once.
                settings.STATIC_ROOT = str(staging)
                call_command("collectstatic", interactive=False, verbosity=0)
                staging.rename(build)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        point_link_at(link, build)
        prune(builds, build)
    sys.stdout.write(f"static files: {link.name} -> {build.relative_to(settings.BASE_DIR)}\n")


if __name__ == "__main__":
    main()
