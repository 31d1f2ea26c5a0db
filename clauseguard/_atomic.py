"""Writing files and folders so that a reader sees the old version or the new one, never half of one.

A file is written to a temporary file beside it and renamed over it. A new folder is filled in a
staging folder beside it and renamed into place. An existing folder is never renamed (it may be a
mount point, the folder a link points to, or the folder the shell is in): the staging folder is made
inside it, and its entries are moved in one by one, each old entry set aside first and put back if a
move fails. On any error the temporary file or folder is removed and the target is left as it was.

A failure to write (no permission, no space, a file where a folder belongs) is raised as
:class:`~clauseguard.errors.WriteError`, naming the path, so the CLI prints it instead of a traceback.

A process killed outright (SIGKILL, a power cut) cannot remove its staging folder: ``.clauseguard-new-*``
or ``.clauseguard-old-*`` inside the target, ``.<name>.tmp-*`` beside it. :func:`is_staging_leftover`
names exactly these (a folder, and the name ``tempfile.mkdtemp`` gives), and ``staged_folder(...,
sweep=True)`` removes them once the new entries are in place.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from clauseguard.errors import UserError, WriteError

__all__ = ["is_staging_leftover", "staged_folder", "write_text"]


@contextmanager
def _cannot_write(path: Path) -> Iterator[None]:
    """Raise an OSError met inside the block as a WriteError naming ``path``."""
    try:
        yield
    except WriteError:
        raise
    except OSError as err:
        raise WriteError(err, str(path)) from err


def _no_file_above(path: Path) -> None:
    """Refuse a path below a file ("out/report.json/legal"), which would fail with a bare "Not a directory"."""
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise WriteError(NotADirectoryError(20, f"{str(above)!r} is a file, not a folder"), str(path))


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    The file gets the mode a plain ``open()`` would give it (0666 less the umask; an existing file's
    own mode when it is replaced), not the 0600 of a temporary file.
    """
    with _cannot_write(path):
        _no_file_above(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_beside(path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                if path.exists():
                    os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _create_beside(path: Path) -> tuple[int, str]:
    """A new file with a unique name beside ``path``, created as ``open()`` would (mode 0666 less the umask)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _resolve(target: Path) -> Path:
    """The folder to write: ``target`` with links followed, so a linked folder gets the files, not the link."""
    try:
        return Path(target).absolute().resolve()
    except (OSError, RuntimeError) as err:  # a link to itself, or a loop of links
        raise UserError(f"the output path is a link that leads nowhere ({err})", where=str(target)) from err


_MKDTEMP = "[a-z0-9_]{8}"  # the random part of a tempfile.mkdtemp name
_INSIDE = re.compile(rf"\.clauseguard-(?:new|old)-{_MKDTEMP}")


def _beside(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.tmp-{_MKDTEMP}")


def is_staging_leftover(entry: Path, target: Path | None = None) -> bool:
    """Whether ``entry`` is a staging folder of :func:`staged_folder`: one inside a target folder, or, given
    the ``target`` it sits beside, one of a new ``target``. A link or a file is never one."""
    if entry.is_symlink() or not entry.is_dir():
        return False
    pattern = _INSIDE if target is None else _beside(target.name)
    return pattern.fullmatch(entry.name) is not None


def _leftovers(folder: Path) -> tuple[list[str], list[Path]]:
    """Staging folders a killed run left: names inside ``folder``, paths beside it."""
    inside = [e.name for e in folder.iterdir() if is_staging_leftover(e)] if folder.is_dir() else []
    parent = folder.parent
    beside = [e for e in parent.iterdir() if is_staging_leftover(e, folder)] if parent.is_dir() else []
    return inside, beside


@contextmanager
def staged_folder(target: Path, *, replaces: Iterable[str] = (), sweep: bool = False) -> Iterator[Path]:
    """Yield an empty folder to fill; when the block ends without error its entries are in ``target``.

    A new ``target`` is the filled folder renamed into place. An existing one keeps its identity: each
    filled entry replaces the entry of that name, the entries named in ``replaces`` (what an earlier
    run wrote) are removed, and anything else in it is left alone. ``sweep`` also removes the staging
    folders a killed run left inside and beside ``target`` (:func:`is_staging_leftover`), once the new
    entries are in place.
    """
    folder = _resolve(target)
    with _cannot_write(target):
        inside, beside = _leftovers(folder) if sweep else ([], [])
        exists = folder.is_dir()
        if not exists:
            _no_file_above(folder)
            folder.parent.mkdir(parents=True, exist_ok=True)
        prefix = ".clauseguard-new-" if exists else f".{folder.name}.tmp-"
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=folder if exists else folder.parent))
        try:
            yield staging
            if exists:
                _move_in(staging, folder, [*replaces, *inside])
            else:
                os.chmod(staging, 0o755)  # mkdtemp makes it 0700; the target should look like any folder
                os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for leftover in beside:
            shutil.rmtree(leftover, ignore_errors=True)


def _move_in(staging: Path, folder: Path, replaces: Iterable[str]) -> None:
    """Move the entries of ``staging`` into ``folder``; the old ones (and ``replaces``) are removed only at the end."""
    names = sorted({p.name for p in staging.iterdir()} | {n for n in replaces if os.path.lexists(folder / n)})
    aside = Path(tempfile.mkdtemp(prefix=".clauseguard-old-", dir=folder))
    moved: list[tuple[Path, Path]] = []  # (from, to), in the order done, to undo in reverse
    try:
        for name in names:
            for source, dest in ((folder / name, aside / name), (staging / name, folder / name)):
                if os.path.lexists(source):
                    os.replace(source, dest)
                    moved.append((source, dest))
    except BaseException:
        for source, dest in reversed(moved):
            os.replace(dest, source)  # if this fails too, the old entries stay in the aside folder
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
