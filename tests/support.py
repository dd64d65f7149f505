"""Small helpers shared by test modules."""

import os

import pytest


def missing_tool(reason: str) -> None:
    """Skip a test whose tool is absent, except under CI, where a missing tool is a failure."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: the test command must install it)")
    pytest.skip(reason)
