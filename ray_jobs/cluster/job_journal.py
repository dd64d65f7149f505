"""The job registry's journal in the asset store: submissions and final states, not progress.

One JSON object per job (its spec and its record) under `jobs/journal/`, rewritten when the
job is submitted and when it ends, plus the worker pool's settings. A registry that restarts
reads it back: finished jobs are still answered, queued and running ones are queued again.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ray_jobs.cluster.job_model import JobRecord, JobSpec
from storage import keys
from storage.store import Store

logger = logging.getLogger(__name__)
READ_THREADS = 8


@dataclass
class JournalEntry:
    spec: JobSpec
    record: JobRecord


class JobJournal:
    def __init__(self, store: Store) -> None:
        self.store = store

    def write(self, spec: JobSpec, record: JobRecord) -> None:
        body = json.dumps({"spec": spec.to_dict(), "record": record.to_dict()}).encode()
        self.store.put(keys.job_journal_key(record.job_id), body, content_type="application/json")

    def forget(self, job_id: str) -> None:
        self.store.delete(keys.job_journal_key(job_id))

    def write_pool(self, pool: dict) -> None:
        self.store.put(keys.JOB_POOL_KEY, json.dumps(pool).encode(), content_type="application/json")

    def read_pool(self) -> dict | None:
        if not self.store.exists(keys.JOB_POOL_KEY):
            return None
        return json.loads(self.store.get(keys.JOB_POOL_KEY))

    def read_all(self) -> list[JournalEntry]:
        """Every journalled job; a damaged entry is logged and skipped, never fatal."""
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:  # S3 answers each GET in ~10 ms
            read = pool.map(self._read, [info.key for info in self.store.iter_keys(keys.JOB_JOURNAL)])
            return [entry for entry in read if entry is not None]

    def _read(self, key: str) -> JournalEntry | None:
        try:
            data = json.loads(self.store.get(key))
            return JournalEntry(JobSpec.from_dict(data["spec"]), JobRecord.from_dict(data["record"]))
        except Exception as error:  # noqa: BLE001 - one bad entry must not lose the others
            logger.warning("skipping damaged job journal entry %s: %s", key, error)
            return None
