"""Start several threads at the same instant, as racing writers do."""

from __future__ import annotations

import threading
from typing import Callable


def run_at_once(work: Callable[[int], object], count: int) -> tuple[list[object], list[BaseException]]:
    """Run ``work(n)`` for n in range(count) in threads released together; return results and errors."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[BaseException] = []

    def runner(number: int) -> None:
        barrier.wait()
        try:
            results.append(work(number))
        except BaseException as error:  # noqa: BLE001 - the caller asserts on every failure
            errors.append(error)

    threads = [threading.Thread(target=runner, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
