"""Storage settings from the environment, validated once, with a display-safe view; credentials never show."""

from __future__ import annotations

import functools
import hmac
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from storage.errors import SettingsError

MAX_URL_EXPIRY_S = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer than 7 days
DEFAULT_URL_EXPIRY_S = 3600
DEFAULT_REGION = "us-east-1"
DEFAULT_LOCAL_DIR = "./local_store"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# S3 bucket naming rules (lowercase letters, digits, dots, hyphens; 3-63 characters).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def env_flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """An on/off variable: true/false, 1/0, yes/no, on/off in any case; empty or unset means ``default``.

    Strict on purpose: a typo such as USE_S3_STORAGE=ture must stop the program, not quietly mean false.
    """
    value = _text(os.environ if environ is None else environ, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SettingsError(
        name,
        f"{name}={value!r} is not a boolean",
        f"Set {name} to true or false (1/0, yes/no and on/off also work), or unset it for the default "
        f"({str(default).lower()}).",
    )


def _integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int, unit: str) -> int:
    value = _text(environ, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(
            name, f"{name}={value!r} is not a whole number", f"Set {name} to a number of {unit} between {low} and {high}."
        ) from None
    if not low <= number <= high:
        raise SettingsError(
            name, f"{name}={number} is out of range", f"Set {name} to a number of {unit} between {low} and {high}."
        )
    return number


class _Withheld:
    """What a pickled Secret becomes in the other process: calling the class gives None. A class,
    not a function, so Streamlit's argument hashing (which hashes a class by its name) accepts it."""

    def __new__(cls) -> None:  # type: ignore[misc]
        return None


class Secret:
    """A credential that never shows: masked in repr and str, and left behind when pickled.

    Pickling is how Ray hands settings to tasks and actors; each machine uses its own credentials.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        """The last 4 characters, enough to tell two keys apart on the settings page."""
        return "****" + self._value[-4:] if len(self._value) > 4 else "****"

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):
        return _Withheld, ()

    def __copy__(self) -> "Secret":
        return self

    def __deepcopy__(self, memo: dict) -> "Secret":
        return self


# Fields that describe this machine's credentials: never sent to another machine or journalled.
CREDENTIAL_FIELDS = ("access_key_id", "has_secret_key")


@dataclass(frozen=True)
class StorageSettings:
    use_s3: bool
    bucket: str | None
    region: str
    endpoint_url: str | None
    local_dir: Path
    url_expiry_s: int = DEFAULT_URL_EXPIRY_S
    cache_dir: Path | None = None
    cache_size_mb: int = 1024
    access_key_id: Secret | None = None
    has_secret_key: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "StorageSettings":
        env = os.environ if environ is None else environ
        use_s3 = env_flag("USE_S3_STORAGE", False, env)
        bucket = _text(env, "S3_BUCKET_NAME")
        if use_s3 and bucket is None:
            raise SettingsError(
                "S3_BUCKET_NAME",
                "USE_S3_STORAGE is true but S3_BUCKET_NAME is not set",
                "Set S3_BUCKET_NAME to your bucket's name, or set USE_S3_STORAGE=false to use the local folder.",
            )
        if bucket is not None and not _BUCKET_NAME.match(bucket):
            raise SettingsError(
                "S3_BUCKET_NAME",
                f"S3_BUCKET_NAME={bucket!r} is not a valid bucket name",
                "Use 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit.",
            )
        endpoint_url = _text(env, "S3_ENDPOINT_URL")
        if endpoint_url is not None and not re.match(r"^https?://[^/\s]+", endpoint_url):
            raise SettingsError(
                "S3_ENDPOINT_URL",
                f"S3_ENDPOINT_URL={endpoint_url!r} is not an http(s) URL",
                "Set it like http://localhost:9000 (MinIO) or unset it for AWS.",
            )
        region = _text(env, "S3_REGION") or _text(env, "AWS_DEFAULT_REGION") or DEFAULT_REGION
        if not re.match(r"^[a-z0-9-]+$", region):
            raise SettingsError("S3_REGION", f"S3_REGION={region!r} is not a region name", "Use a name like us-east-1.")
        url_expiry_s = _integer(
            env, "S3_URL_EXPIRY_SECONDS", DEFAULT_URL_EXPIRY_S, 1, MAX_URL_EXPIRY_S, "seconds (7 days at most)"
        )
        cache_size_mb = _integer(env, "S3_CACHE_SIZE_MB", 1024, 1, 1024 * 1024, "megabytes")
        cache_dir = _text(env, "S3_CACHE_DIR")
        local_dir = Path(_text(env, "LOCAL_STORAGE_DIR") or DEFAULT_LOCAL_DIR).expanduser()
        return cls(
            use_s3=use_s3,
            bucket=bucket,
            region=region,
            endpoint_url=endpoint_url,
            local_dir=local_dir.resolve(),
            url_expiry_s=url_expiry_s,
            cache_dir=Path(cache_dir).expanduser().resolve() if cache_dir else None,
            cache_size_mb=cache_size_mb,
            access_key_id=_secret(_text(env, "AWS_ACCESS_KEY_ID")),
            has_secret_key=_text(env, "AWS_SECRET_ACCESS_KEY") is not None,
        )

    def shareable(self) -> dict[str, Any]:
        """The settings as JSON values, credentials left out: what a job spec carries to the workers."""
        values = {field.name: getattr(self, field.name) for field in fields(self) if field.name not in CREDENTIAL_FIELDS}
        return {name: str(value) if isinstance(value, Path) else value for name, value in values.items()}

    @classmethod
    def from_shareable(cls, data: Mapping[str, Any]) -> "StorageSettings":
        """Back from `shareable`; credentials in older records (a key id) are ignored, never read."""
        known = {field.name for field in fields(cls)} - set(CREDENTIAL_FIELDS)
        values = {name: value for name, value in data.items() if name in known}
        for name in ("local_dir", "cache_dir"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        return cls(**values)

    @property
    def backend(self) -> str:
        return "s3" if self.use_s3 else "local"

    def masked(self) -> dict[str, str]:
        """Everything worth showing, with the secret left out and the key id cut to its last 4."""
        view = {"backend": self.backend}
        if self.use_s3:
            view.update(
                bucket=self.bucket or "",
                region=self.region,
                endpoint_url=self.endpoint_url or "AWS default",
                access_key_id=mask_key_id(self.access_key_id),
                secret_access_key="set (hidden)" if self.has_secret_key else "not set (boto3 credential chain)",
                url_expiry_s=str(self.url_expiry_s),
                cache_dir=str(self.cache_dir) if self.cache_dir else "off",
                cache_size_mb=str(self.cache_size_mb),
            )
        else:
            view["local_dir"] = str(self.local_dir)
        return view


def mask_key_id(access_key_id: Secret | str | None) -> str:
    if not access_key_id:
        return "not set (boto3 credential chain)"
    return (access_key_id if isinstance(access_key_id, Secret) else Secret(access_key_id)).masked()


def _secret(value: str | None) -> Secret | None:
    return None if value is None else Secret(value)


@functools.cache
def load_settings() -> StorageSettings:
    """Settings from ``os.environ``, read once per process (``load_settings.cache_clear()`` re-reads)."""
    return StorageSettings.from_env()
