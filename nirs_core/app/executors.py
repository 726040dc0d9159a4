"""Where the groups of a sweep are computed: in this process (the default) or on the workers of
an existing Dask cluster (``distributed``, the ``dask`` extra).

A run hands its executor, dataset by dataset, the groups of the pending configs (the configs of
a component sweep together, every other config alone: :func:`nirs_core.pipeline.executor.sweep_groups`);
the executor yields ``(group index, results)`` as the groups finish, and the driver
(:mod:`nirs_core.app.commit`) stores and checkpoints them in batches exactly as it always did.
Storage, checkpoints, resume and SIGKILL safety do not depend on where a group was computed:
workers compute, only the driver writes.

- :class:`InProcessExecutor` runs the groups one after another with one preprocessing cache per
  dataset (what ``nirs run`` always did); the groups come back in order.
- :class:`DaskExecutor` connects to a scheduler (``tcp://host:port``) or starts a
  ``LocalCluster`` sized to the machine (``"local"``: one single-threaded worker process per
  core, everything on 127.0.0.1). Per dataset it scatters the dataset to every worker once
  (``broadcast=True``), submits one task per group in group order (the scheduler's priority),
  and yields the groups **in the order they complete**: the driver commits them in that order,
  so a kill loses only what finished since the last commit; the rows of
  ``predictions/<dataset>.parquet`` may be in another order than in process, while
  :attr:`~nirs_core.app.run.Run.results` stays in config order. Each worker thread keeps one
  preprocessing cache (at most ``cache_bytes``) for the run and dataset it last worked on, so
  groups of a run that land on the same worker share prefixes (a later run starts afresh). A worker that dies mid-task has its task rerun on
  another worker by the scheduler (at most ``distributed.scheduler.allowed-failures`` times,
  then the run fails with ``KilledWorker`` and can be resumed). The computation is
  deterministic, and both executors compute with **one BLAS thread** (``threadpoolctl``; a
  Dask nanny sets the same), because OpenBLAS rounds a product differently with another number
  of threads once the matrices are large: with it, the scores do not depend on where a group
  ran nor on the machine's core count, and the Dask ones equal the in-process ones exactly
  (tests/pipeline/test_run_dask.py). Parallelism comes from the workers (and from the engine's
  own kernel pool), not from BLAS.
"""

from __future__ import annotations

import abc
import contextlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from nirs_core.errors import ConfigError
from nirs_core.pipeline.generators import PipelineConfig
from nirs_core.pipeline.result import Result

__all__ = [
    "DaskExecutor",
    "Executor",
    "InProcessExecutor",
    "available_cores",
    "one_blas_thread",
    "resolve_executor",
]

#: What an executor may apply to a group's results where they were computed (``run_groups(finish=)``):
#: a picklable callable of (the group's configs, their results) -> one object per result.
Finish = Callable[[list[PipelineConfig], list[Result]], list[Any]]

_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx|inproc)://[^\s/]+$")


class Executor(abc.ABC):
    """Computes the groups of a dataset's pending configs. A context manager: entering opens
    what it needs (a cluster connection), leaving closes it; nested use is counted, so an
    executor entered by its owner is not closed by a run that uses it."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @abc.abstractmethod
    def run_groups(
        self,
        dataset: Any,
        groups: Sequence[Sequence[PipelineConfig]],
        *,
        run_id: str,
        cache_bytes: int,
        isolate: bool = True,
        finish: Finish | None = None,
    ) -> Iterator[tuple[int, list[Any]]]:
        """``(index into groups, one Result per config of that group)`` for every group; with
        ``isolate``, a config that fails gives a ``FailedResult`` (``execute_batch(isolate=)``).
        With ``finish``, ``finish(group, results)`` in place of the results, called where the
        group was computed (on the worker: the driver receives them ready to store)."""


class InProcessExecutor(Executor):
    """The groups one after another in this process, with one preprocessing cache per dataset."""

    def run_groups(
        self,
        dataset: Any,
        groups: Sequence[Sequence[PipelineConfig]],
        *,
        run_id: str,
        cache_bytes: int,
        isolate: bool = True,
        finish: Finish | None = None,
    ) -> Iterator[tuple[int, list[Any]]]:
        from nirs_core.pipeline.cache import PreprocessingCache
        from nirs_core.pipeline.executor import execute_batch

        cache = PreprocessingCache(max_bytes=cache_bytes)
        for index, group in enumerate(groups):
            with one_blas_thread():
                results = execute_batch(list(group), dataset, cache=cache, run_id=run_id, isolate=isolate)
            yield index, results if finish is None else finish(list(group), results)

    def __repr__(self) -> str:
        return "InProcessExecutor()"


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS limited to one thread inside the block (see the module docstring: the same bits
    wherever a group runs)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "DaskExecutor: the Dask backend needs the 'distributed' package; install the 'dask' extra "
            "(pip install 'nirs-dagster[dask]')."
        ) from None
    return distributed


class DaskExecutor(Executor):
    """The groups as tasks on a Dask cluster (see the module docstring).

    ``address``: ``"local"`` (start a ``LocalCluster`` of ``n_workers`` single-threaded worker
    processes, default :func:`available_cores`), a scheduler address (``tcp://127.0.0.1:8786``),
    or a ``distributed.Client`` the caller owns (not closed here). ``timeout``: seconds to wait
    for the scheduler.
    """

    def __init__(
        self, address: Any = "local", *, n_workers: int | None = None, timeout: float = 10.0
    ) -> None:
        if isinstance(address, str):
            if address != "local" and not _ADDRESS.match(address):
                raise ConfigError(
                    "DaskExecutor: address must be 'local' or a scheduler address such as "
                    f"tcp://127.0.0.1:8786; got {address!r}."
                )
        elif not (hasattr(address, "scatter") and hasattr(address, "submit")):
            raise ConfigError(
                "DaskExecutor: address must be 'local', a scheduler address or a distributed.Client; "
                f"got {type(address).__name__}."
            )
        if n_workers is not None and (
            isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1
        ):
            raise ConfigError(f"DaskExecutor: n_workers must be an integer >= 1; got {n_workers!r}.")
        self.address = address
        self.n_workers = n_workers
        self.timeout = timeout
        self._client: Any = None if isinstance(address, str) else address
        self._cluster: Any = None
        self._depth = 0

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> DaskExecutor:
        if self._depth == 0 and isinstance(self.address, str):
            self._open()
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and isinstance(self.address, str):
            self._close()

    def _open(self) -> None:
        distributed = _distributed()
        if self.address == "local":
            import dask

            # The nannies spawn the workers with MALLOC_TRIM_THRESHOLD_=65536 (Dask's default
            # pre-spawn environment). Setting it turns off glibc's dynamic mmap threshold, so
            # every temporary array above 128 KiB is a fresh mmap that is page-faulted in and
            # unmapped again: measured on this sweep, 1.6 M minor faults instead of 21 k and
            # twice the CPU time per group (5.9 s -> 11.1 s, most of it in the kernel). The
            # workers of our own cluster are spawned without it (None unsets a key); BLAS stays
            # at one thread (the other keys) and a user's own environment still wins.
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                self._cluster = distributed.LocalCluster(
                    n_workers=self.n_workers or available_cores(),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",  # loopback, any free port (never 8787)
                )
            self._client = distributed.Client(self._cluster)
            return
        try:
            self._client = distributed.Client(self.address, timeout=self.timeout)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"DaskExecutor: could not connect to the Dask scheduler at {self.address} ({exc}); "
                "start one (dask scheduler) or use 'local'."
            ) from None

    def _close(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (only while the executor is entered, or the one given)."""
        if self._client is None:
            raise ConfigError(
                "DaskExecutor: not connected; use it as a context manager (with DaskExecutor(...) as ex:) "
                "or pass it to nirs_core.run(executor=...), which does."
            )
        return self._client

    # ------------------------------------------------------------------ work
    def run_groups(
        self,
        dataset: Any,
        groups: Sequence[Sequence[PipelineConfig]],
        *,
        run_id: str,
        cache_bytes: int,
        isolate: bool = True,
        finish: Finish | None = None,
    ) -> Iterator[tuple[int, list[Any]]]:
        import cloudpickle

        distributed = _distributed()
        client = self.client
        shared = client.scatter(dataset, broadcast=True, hash=False)
        tag = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                _run_group,
                shared,
                list(group),
                run_id,
                cache_bytes,
                isolate,
                None if finish is None else cloudpickle.dumps(finish),
                key=f"nirs-group-{index}-{tag}",
            ): index
            for index, group in enumerate(groups)
        }
        try:
            for future in distributed.as_completed(futures):
                yield futures[future], future.result()
        finally:
            # also when the driver stops early (an error, Ctrl-C): nothing keeps computing
            client.cancel([*futures, shared])

    def __repr__(self) -> str:
        where = self.address if isinstance(self.address, str) else type(self.address).__name__
        return f"DaskExecutor({where!r})"


# One preprocessing cache per worker thread, for the run and dataset it last worked on (the run
# id, the dataset's content hash and the cache bound decide): the groups of a run that land on
# the same worker share it; the next run or dataset replaces it.
_worker = threading.local()


def _run_group(
    dataset: Any,
    configs: list[PipelineConfig],
    run_id: str,
    cache_bytes: int,
    isolate: bool,
    finish: bytes | None = None,
) -> list[Any]:
    """A Dask task: one group's results, computed on a worker, then given to ``finish`` there.

    ``finish`` arrives cloudpickled, as opaque bytes: Dask walks into a task's arguments, and
    with a ``functools.partial`` among them the scheduler forgot a group's task after a worker
    was killed (``FutureCancelledError: ... already forgotten``, 2 runs in 5 of
    tests/pipeline/test_run_dask.py's killed-worker test; none in 3 with bytes)."""
    from nirs_core.pipeline.cache import PreprocessingCache
    from nirs_core.pipeline.executor import execute_batch

    key = (run_id, dataset.content_hash(), cache_bytes)
    held = getattr(_worker, "cache", None)
    if held is None or held[0] != key:
        held = _worker.cache = (key, PreprocessingCache(max_bytes=cache_bytes))
    with one_blas_thread():
        results = execute_batch(configs, dataset, cache=held[1], run_id=run_id, isolate=isolate)
    if finish is None:
        return results
    import cloudpickle

    return cloudpickle.loads(finish)(configs, results)


def resolve_executor(executor: Any) -> Executor:
    """``executor`` as an :class:`Executor`: None (in process), an executor, a Dask address
    (``"local"`` or ``tcp://host:port``) or a ``distributed.Client``."""
    if executor is None:
        return InProcessExecutor()
    if isinstance(executor, Executor):
        return executor
    if isinstance(executor, str) or (hasattr(executor, "scatter") and hasattr(executor, "submit")):
        return DaskExecutor(executor)
    raise ConfigError(
        "run: executor must be None (in process), an Executor, a Dask scheduler address ('local', "
        f"tcp://host:port) or a distributed.Client; got {type(executor).__name__}."
    )
