"""The key layout: stable asset ids, gallery keys that sort newest first and carry a searchable slug."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from storage import keys


def test_asset_id_is_stable_and_order_independent():
    sha = keys.sha256_hex(b"image")
    first = keys.asset_id_for(sha, {"generator": "inflate", "resolution": 512, "thickness": 0.25})
    second = keys.asset_id_for(sha, {"thickness": 0.25, "resolution": 512, "generator": "inflate"})
    assert first == second and keys.is_asset_id(first)
    assert keys.asset_id_for(sha, {"generator": "inflate", "resolution": 256, "thickness": 0.25}) != first


def test_asset_id_refuses_bad_input():
    with pytest.raises(ValueError, match="SHA-256"):
        keys.asset_id_for("abc", {})
    with pytest.raises(ValueError, match="JSON"):
        keys.asset_id_for("0" * 64, {"x": object()})


def test_index_keys_sort_newest_first():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    older = keys.index_key(now - timedelta(seconds=1), "a" * 32, "Older")
    newer = keys.index_key(now, "b" * 32, "Newer")
    assert newer < older
    assert keys.parse_index_key(newer) == ("b" * 32, "newer")


@pytest.mark.parametrize("name,needle", [("Red Chair (v2).png", "chair (v"), ("a--b", "-b"), ("ÄBC", "äb"), ("x.y.z", ".y.")])
def test_a_substring_of_a_name_has_a_substring_slug(name, needle):
    assert needle.casefold() in name.casefold()
    assert keys.slugify(needle) in keys.slugify(name)


def test_long_names_are_cut_and_marked():
    key = keys.index_key(datetime.now(timezone.utc), "c" * 32, "long name " * 30)
    asset_id, slug = keys.parse_index_key(key)
    assert slug.endswith("~") and keys.slug_may_match(slug, "anything")
    assert len(key.rsplit("/", 1)[-1].encode()) < 255  # fits a file name on local disks


@pytest.mark.parametrize(
    "raw,expected",
    [("C:\\fakepath\\photo.png", "photo.png"), ("../../etc/passwd", "passwd"), ("", "image"), ("..", "image"),
     ("bad\x00name.png", "badname.png"), (" chair .jpg ", "chair .jpg")],
)
def test_uploaded_names_become_one_safe_segment(raw, expected):
    assert keys.display_file_name(raw) == expected
    key = keys.uploaded_image_key("0" * 64, raw)
    assert key == f"images/uploaded/{'0' * 64}/{expected}"


def test_version_keys_parse():
    asset_id = "d" * 32
    assert keys.parse_version_key(keys.claim_key(asset_id, 12)) == (12, "claim.json")
    assert keys.parse_version_key(keys.manifest_key(asset_id)) is None
