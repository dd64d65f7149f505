"""Errors a user of the store meets, each saying what happened and what to do."""

from __future__ import annotations


class StoreError(Exception):
    """Base of all store failures. ``str()`` is "<what happened>. <what to do>"."""

    def __init__(self, what: str, hint: str = "") -> None:
        self.what = what.rstrip(". ")
        self.hint = hint.strip()
        super().__init__(f"{self.what}. {self.hint}" if self.hint else f"{self.what}.")


class KeyNotFound(StoreError, LookupError):
    """The object does not exist (never written, deleted, or vanished after a listing)."""


class KeyExists(StoreError):
    """A conditional put lost: another writer created the key first."""


class FirstVersionTaken(KeyExists):
    """A publish of a new asset lost the race for version 1: another writer is publishing it."""


class InvalidKey(StoreError, ValueError):
    """A key that could escape the store root or that S3 and a folder cannot both hold."""


class KeyThroughLink(InvalidKey):
    """A key that meets a symbolic link in a local store folder: links are never followed."""


class AccessDenied(StoreError):
    """The credentials are not allowed to do this (HTTP 403)."""


class BucketMissing(StoreError):
    """The configured bucket does not exist."""


class StoreUnreachable(StoreError):
    """Nothing answers at the endpoint (connection refused, DNS, no reply to the connection attempt)."""


class StoreTimeout(StoreUnreachable):
    """The endpoint accepted the connection but did not answer in time (hung server, stalled link)."""


class StoreUnavailable(StoreError):
    """The store answered with throttling or 5xx errors, still failing after retries."""


class CorruptManifest(StoreError):
    """An asset manifest that is not valid JSON or misses required fields."""


class SettingsError(ValueError):
    """A bad environment setting: names the variable and the fix."""

    def __init__(self, variable: str, what: str, hint: str) -> None:
        self.variable = variable
        self.what = what.rstrip(". ")
        self.hint = hint.strip()
        super().__init__(f"{self.what}. {self.hint}")
