"""Where a generator's learned model comes from, and what identifies it.

A generator with weights (see ``WeightsSpec`` in base.py) has a ``weights`` setting naming one of:

- a local folder (a path): used in place; its identity is a hash of every file's content;
- ``s3://bucket/prefix``: copied once per machine into a cache folder (atomically, under a
  file lock, so two workers on one node fetch once); its identity is a hash of the objects'
  names, sizes and ETags, so the client knows it from one listing without downloading;
- a model hub id (``owner/name``): taken from this machine's hub cache, fetched only where the
  deployer allows downloads (``ASSET_STUDIO_ALLOW_DOWNLOADS=1`` and the hub not set offline);
  its identity is the hub revision (commit).

The identity goes into an asset's identity, so new weights never answer with an old model's
asset and the same weights never build twice. Workers check it again before they load: weights
that changed between submit and run fail the job instead of publishing under the wrong identity.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ray_jobs.generators.base import Generator, ResolvedWeights

CACHE_ENV = "ASSET_STUDIO_WEIGHTS_CACHE"
ALLOW_DOWNLOADS_ENV = "ASSET_STUDIO_ALLOW_DOWNLOADS"
FETCH_LOG = "fetches.log"  # one line per download from the store: proves a node fetched once
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HASH_CHUNK = 8 << 20


class WeightsMissing(ValueError):
    """The model named by the weights setting cannot be used; the message lists the ways to provide it."""


@dataclass(frozen=True)
class S3Access:
    """How to reach s3:// weights: the store's region and endpoint (credentials: the machine's own chain)."""

    region: str
    endpoint_url: str | None = None


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "asset-studio" / "weights"


def source_kind(source: str) -> str:
    """"s3", "hub" or "local" for a weights setting's value."""
    if source.startswith("s3://"):
        return "s3"
    if source.startswith(("/", ".", "~")) or Path(source).expanduser().is_dir():
        return "local"
    if _HUB_ID.match(source):
        return "hub"
    return "local"


# `generator` below is whatever has a `name` and a `weights` spec: a generator, or the learned segmenter.
def how_to_provide(generator: Generator) -> str:
    """The three ways to give a generator (or the segmenter) its model, for messages and listings."""
    spec = generator.weights
    option = "--weights " if spec.setting == "weights" else f"--set {spec.setting}="
    fetched = (f"the hub id {spec.hub_id} fetched on first use" if spec.hub_id
               else f"a download into {spec.env} by rembg on first use")
    return (f"give the {generator.name} model one of three ways: a folder on every machine "
            f"({option}/path/to/model or {spec.env}=/path/to/model), a store prefix synced to every node "
            f"({option}s3://bucket/prefix or {spec.env}=s3://bucket/prefix), or {fetched} "
            f"where downloads are allowed ({ALLOW_DOWNLOADS_ENV}=1)")


def _missing(generator: Generator, source: str, why: str) -> WeightsMissing:
    setting = generator.weights.setting
    return WeightsMissing(f"setting '{setting}' of generator '{generator.name}' names {source!r}, but {why}: "
                          f"{how_to_provide(generator)}")


def weights_identity(generator: Generator, source: str, s3: S3Access | None = None) -> str:
    """The identity of the model ``source`` names, without downloading it (WeightsMissing if unusable)."""
    kind = _kind(generator, source)
    if kind == "s3":
        return _S3Weights(generator, source, s3).identity()
    if kind == "hub":
        return _hub_identity(generator, source)
    return _local_identity(generator, _local_folder(generator, source))


def resolve_weights(generator: Generator, source: str, s3: S3Access | None = None,
                    expected_identity: str | None = None) -> ResolvedWeights:
    """The model on this machine (fetched when needed), checked against ``expected_identity``."""
    kind = _kind(generator, source)
    if kind == "s3":
        weights = _S3Weights(generator, source, s3)
        identity = weights.identity()
        _check_expected(generator, source, identity, expected_identity)  # before fetching a changed model
        return ResolvedWeights(folder=weights.fetch(identity), identity=identity, source=source)
    if kind == "hub":
        folder = _hub_folder(generator, source)
        identity = f"hub:{folder.name}"
    else:
        folder = _local_folder(generator, source)
        identity = _local_identity(generator, folder)
    _check_expected(generator, source, identity, expected_identity)
    return ResolvedWeights(folder=folder, identity=identity, source=source)


def _kind(generator: Generator, source: str) -> str:
    kind = source_kind(source)
    return "local" if kind == "hub" and not generator.weights.hub_id else kind


def weights_for_run(generator: Generator, identity_settings: dict, s3: S3Access | None) -> ResolvedWeights | None:
    """What a worker hands ``generate`` for one job: None for a generator without weights."""
    if generator.weights is None:
        return None
    source = identity_settings[generator.weights.setting]
    return resolve_weights(generator, source, s3, expected_identity=identity_settings.get("weights_id"))


def _check_expected(generator: Generator, source: str, identity: str, expected: str | None) -> None:
    if expected is not None and identity != expected:
        raise WeightsMissing(f"the {generator.name} model at {source!r} changed since the job was submitted "
                             f"({expected[:23]} then, {identity[:23]} now): submit the job again")


def _require_files(generator: Generator, source: str, present: set[str]) -> None:
    missing = [name for name in generator.weights.required_files if name not in present]
    if missing:
        raise _missing(generator, source, f"it lacks {', '.join(missing)} (an incomplete or wrong model)")


# ---- a local folder ---------------------------------------------------------------------------

def _relative_files(folder: Path) -> list[str]:
    """Every file under ``folder``, as its path relative to it."""
    return [path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()]


def _local_folder(generator: Generator, source: str) -> Path:
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise _missing(generator, source, "there is no such folder on this machine")
    files = set(_relative_files(folder))
    if not files:
        raise _missing(generator, source, "the folder is empty")
    _require_files(generator, source, files)
    return folder.resolve()


_local_identities: dict[tuple, str] = {}
_local_lock = threading.Lock()


def _local_identity(generator: Generator, folder: Path) -> str:
    """A hash of every file's name and content; rehashed only when a file's size or time changes."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    signature = (str(folder), tuple((path.relative_to(folder).as_posix(), path.stat().st_size,
                                     path.stat().st_mtime_ns) for path in files))
    with _local_lock:
        known = _local_identities.get(signature)
    if known is not None:
        return known
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    identity = f"sha256:{digest.hexdigest()}"
    with _local_lock:
        _local_identities[signature] = identity
    return identity


# ---- a store prefix ---------------------------------------------------------------------------

def _store_access() -> S3Access:
    """The store's region and endpoint as the storage settings read them (checked, with their defaults),
    for callers that pass none."""
    from storage.settings import load_settings

    settings = load_settings()
    return S3Access(settings.region, settings.endpoint_url)


class _S3Weights:
    def __init__(self, generator: Generator, source: str, s3: S3Access | None):
        self.generator, self.source = generator, source
        bucket, _, prefix = source[len("s3://"):].partition("/")
        if not bucket:
            raise _missing(generator, source, "it names no bucket")
        self.bucket, self.prefix = bucket, prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.s3 = s3 or _store_access()
        self._objects: list | None = None

    def _store(self):
        from storage.s3_store import S3Store

        return S3Store(self.bucket, region=self.s3.region, endpoint_url=self.s3.endpoint_url)

    def objects(self) -> list:
        if self._objects is None:
            from storage.errors import StoreError

            try:
                found = [info for info in self._store().iter_keys(self.prefix) if not info.key.endswith("/")]
            except StoreError as error:
                raise _missing(self.generator, self.source, f"the store cannot list it ({error.what})") from None
            if not found:
                raise _missing(self.generator, self.source, "nothing is stored under that prefix")
            _require_files(self.generator, self.source, {info.key[len(self.prefix):] for info in found})
            self._objects = found
        return self._objects

    def identity(self) -> str:
        digest = hashlib.sha256()
        for info in sorted(self.objects(), key=lambda info: info.key):
            digest.update(f"{info.key[len(self.prefix):]}\0{info.size}\0{info.etag}\0".encode())
        return f"s3:{digest.hexdigest()}"

    def fetch(self, identity: str) -> Path:
        """The local copy of exactly these objects: made once per machine, atomically, under a lock."""
        base = cache_root() / "s3" / hashlib.sha256(self.source.encode()).hexdigest()[:16]
        folder = base / identity.split(":", 1)[1][:32]
        if folder.is_dir():
            return folder
        base.mkdir(parents=True, exist_ok=True)
        with open(base / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a second worker waits here, then finds the folder
            if folder.is_dir():
                return folder
            staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base))
            try:
                store = self._store()
                for info in self.objects():
                    target = staging / info.key[len(self.prefix):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(store.get(info.key))
                os.rename(staging, folder)  # the folder appears complete or not at all
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            with open(base / FETCH_LOG, "a") as log:
                log.write(json.dumps({"pid": os.getpid(), "identity": identity, "files": len(self.objects())}) + "\n")
        return folder


# ---- the model hub ----------------------------------------------------------------------------

def downloads_allowed() -> bool:
    from storage.settings import env_flag

    hub_offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return env_flag(ALLOW_DOWNLOADS_ENV, False) and not hub_offline


def _cached_hub_folder(source: str) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(source, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None


def _hub_identity(generator: Generator, source: str) -> str:
    folder = _cached_hub_folder(source)
    if folder is not None:
        return f"hub:{folder.name}"
    if not downloads_allowed():
        raise _missing(generator, source, "it is not in this machine's hub cache and downloads are off")
    from huggingface_hub import HfApi

    try:
        return f"hub:{HfApi().model_info(source).sha}"
    except Exception as error:  # noqa: BLE001 - network, auth or a wrong id: one line either way
        raise _missing(generator, source, f"the hub did not answer for it ({type(error).__name__})") from None


def _hub_folder(generator: Generator, source: str) -> Path:
    folder = _cached_hub_folder(source)
    if folder is None:
        if not downloads_allowed():
            raise _missing(generator, source, "it is not in this machine's hub cache and downloads are off")
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(source))
        except Exception as error:  # noqa: BLE001
            raise _missing(generator, source, f"fetching it from the hub failed ({type(error).__name__})") from None
    _require_files(generator, source, set(_relative_files(folder)))
    return folder
