"""What submit-batch ships to the cluster: the files git tracks, nothing else (no cluster needed)."""

from __future__ import annotations

import subprocess

import pytest

from ray_jobs.cluster.job_package import stage_tracked_files
from ray_jobs.errors import BadInput


def _git(repo, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path):
    repo = tmp_path / "checkout"
    (repo / "ray_jobs").mkdir(parents=True)
    (repo / "ray_jobs" / "__init__.py").write_text("tracked = True\n")
    (repo / "README.md").write_text("tracked\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "ray_jobs/__init__.py", "README.md")
    # what must never leave the machine: untracked secrets and data, ignored or not
    (repo / ".env").write_text("AWS_SECRET_ACCESS_KEY=do-not-ship\n")
    (repo / "local_store" / "images").mkdir(parents=True)
    (repo / "local_store" / "images" / "photo.png").write_bytes(b"png")
    (repo / "ray_jobs" / "scratch.py").write_text("untracked = True\n")
    (repo / ".gitignore").write_text("local_store/\n")  # itself untracked
    return repo


def test_only_tracked_files_are_staged(checkout, tmp_path):
    staged = tmp_path / "staged"
    staged.mkdir()
    names = stage_tracked_files(checkout, staged)
    assert sorted(names) == ["README.md", "ray_jobs/__init__.py"]
    on_disk = sorted(str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file())
    assert on_disk == ["README.md", "ray_jobs/__init__.py"]
    assert (staged / "ray_jobs" / "__init__.py").read_text() == "tracked = True\n"


def test_a_changed_tracked_file_ships_as_it_is_on_disk(checkout, tmp_path):
    (checkout / "README.md").write_text("edited, not committed\n")
    staged = tmp_path / "staged"
    staged.mkdir()
    stage_tracked_files(checkout, staged)
    assert (staged / "README.md").read_text() == "edited, not committed\n"


def test_outside_a_git_checkout_it_refuses_with_one_line(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "main.py").write_text("x = 1\n")
    staged = tmp_path / "staged"
    staged.mkdir()
    with pytest.raises(BadInput) as caught:
        stage_tracked_files(plain, staged)
    message = str(caught.value)
    assert "\n" not in message and "git" in message and "submit-batch" in message
    assert list(staged.iterdir()) == []


def test_a_tracked_link_is_refused(checkout, tmp_path):
    (tmp_path / "credentials").write_text("secret\n")
    (checkout / "creds").symlink_to(tmp_path / "credentials")
    _git(checkout, "add", "creds")
    staged = tmp_path / "staged"
    staged.mkdir()
    with pytest.raises(BadInput, match="creds.*link"):
        stage_tracked_files(checkout, staged)
    assert not (staged / "creds").exists()
