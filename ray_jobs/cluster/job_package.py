"""What `submit-batch` ships to the cluster: the files git tracks in this checkout, nothing else.

A denylist cannot know every local secret or data folder (a `.env`, a store folder, scratch
files), so the job's working directory is a temporary copy of exactly the tracked files, as
they are on disk now (edits not yet committed included). A new module must be `git add`ed to
travel with the job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ray_jobs.errors import BadInput

REPO_ROOT = Path(__file__).resolve().parents[2]
GIT_TIMEOUT_S = 60.0
_ELSEWHERE = "or run `python -m ray_jobs batch PREFIX` on the cluster's head node instead"


def tracked_files(source: Path) -> list[str]:
    """Paths (relative to ``source``) of the files git tracks under it; BadInput outside a git checkout."""
    command = ["git", "-C", str(source), "ls-files", "-z", "--recurse-submodules"]
    try:
        listed = subprocess.run(command, capture_output=True, check=True, timeout=GIT_TIMEOUT_S)
    except FileNotFoundError:
        raise BadInput("submit-batch ships the files git tracks, and git is not installed here",
                       f"Install git, {_ELSEWHERE}.") from None
    except subprocess.CalledProcessError as error:
        said = os.fsdecode(error.stderr).strip().splitlines()
        raise BadInput(f"submit-batch ships the files git tracks, and {source} is not a git checkout"
                       + (f" ({said[0]})" if said else ""),
                       f"Run it from a git clone of the project, {_ELSEWHERE}.") from None
    except subprocess.TimeoutExpired:
        raise BadInput(f"git did not list the tracked files of {source} within {GIT_TIMEOUT_S:g} s",
                       f"Check that `git ls-files` works there, {_ELSEWHERE}.") from None
    return [os.fsdecode(name) for name in listed.stdout.split(b"\0") if name]


def stage_tracked_files(source: Path, into: Path) -> list[str]:
    """Copy every tracked file of ``source`` into the folder ``into``; the relative paths copied."""
    source, names = Path(source).resolve(), tracked_files(source)
    shipped = []
    for name in names:
        origin = source / name
        if origin.is_symlink() or not origin.resolve().is_relative_to(source):
            raise BadInput(f"The tracked file {name} is a symbolic link (or lies behind one): submit-batch ships "
                           "regular files only, so a link cannot carry a file from elsewhere to the cluster",
                           "Replace the link with the file itself, or stop tracking it (git rm --cached).")
        if not origin.is_file():
            continue  # deleted on disk but not yet in git: the job runs what is here
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
        shipped.append(name)
    if not shipped:
        raise BadInput(f"git tracks no files under {source}, so submit-batch has nothing to ship",
                       f"Run it from a git clone of the project, {_ELSEWHERE}.")
    return shipped


@contextmanager
def staged_working_dir(source: Path = REPO_ROOT) -> Iterator[Path]:
    """A temporary folder holding the tracked files of ``source``, removed on leaving."""
    with tempfile.TemporaryDirectory(prefix="asset-studio-job-") as folder:
        stage_tracked_files(source, Path(folder))
        yield Path(folder)
