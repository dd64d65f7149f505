"""Folders and files under a root, opened one name at a time and never through a symbolic link.

A path string is resolved by the kernel in one go, links and all. Opening each name with
O_NOFOLLOW relative to its parent folder's descriptor instead means a link anywhere on the
way stops the walk rather than leading out of the root. POSIX only (dir_fd, O_NOFOLLOW).
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator, Sequence

FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted under a key must not hang the reader.
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class LinkInPath(Exception):
    """A name on the way is a symbolic link."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NotAFolder(Exception):
    """A name on the way to a file is a file (or something else that is not a folder)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def entry_stat(folder_fd: int, name: str) -> os.stat_result | None:
    """The entry itself (a link is reported as a link), or None when there is none."""
    try:
        return os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def is_link(entry: os.stat_result | None) -> bool:
    return entry is not None and stat.S_ISLNK(entry.st_mode)


def _failure(folder_fd: int, name: str) -> Exception:
    """Why opening ``name`` failed, told apart by looking at the entry itself (errno differs by system)."""
    entry = entry_stat(folder_fd, name)
    if entry is None:
        return FileNotFoundError(name)
    if stat.S_ISLNK(entry.st_mode):
        return LinkInPath(name)
    return NotAFolder(name)


def open_folder(folder_fd: int, name: str, *, create: bool = False) -> int:
    """A descriptor of the folder ``name`` inside ``folder_fd``, made first when ``create``."""
    for attempt in range(2):
        try:
            return os.open(name, FOLDER_FLAGS, dir_fd=folder_fd)
        except FileNotFoundError:
            if not create or attempt:
                raise
            with suppress(FileExistsError):
                os.mkdir(name, dir_fd=folder_fd)
        except OSError:
            raise _failure(folder_fd, name) from None
    raise FileNotFoundError(name)  # not reached: the loop returns or raises


@contextmanager
def folder_chain(root: Path, names: Sequence[str], *, create: bool = False) -> Iterator[list[int]]:
    """Descriptors of ``root`` and of each folder ``names`` leads through, closed on leaving.

    The root itself is opened by its path: the caller chose it (it may sit behind links the
    user set up); only what lies below it is walked name by name.
    """
    if create:
        root.mkdir(parents=True, exist_ok=True)
    chain = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
    try:
        for name in names:
            chain.append(open_folder(chain[-1], name, create=create))
        yield chain
    finally:
        for fd in reversed(chain):
            os.close(fd)


def read_file(folder_fd: int, name: str) -> bytes:
    """The bytes of the regular file ``name``; FileNotFoundError for anything else but a link."""
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=folder_fd)
    except FileNotFoundError:
        raise
    except OSError:
        failure = _failure(folder_fd, name)
        raise (FileNotFoundError(name) if isinstance(failure, NotAFolder) else failure) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise FileNotFoundError(name)  # a folder, FIFO or device is not an object
        return handle.read()


def write_new_file(folder_fd: int, name: str, data: bytes, mode: int = 0o600) -> None:
    """Create ``name`` (it must not exist), write ``data`` and flush it to disk."""
    fd = os.open(name, NEW_FILE_FLAGS, mode, dir_fd=folder_fd)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def prune_empty(chain: list[int], names: Sequence[str], keep: int = 0) -> None:
    """Remove the folders ``names`` led to, deepest first, while they are empty; the first ``keep`` stay.

    ``chain`` is what `folder_chain` gave for ``names``; rmdir never follows a link.
    """
    for depth in range(len(names) - 1, keep - 1, -1):
        try:
            os.rmdir(names[depth], dir_fd=chain[depth])
        except OSError:
            return
