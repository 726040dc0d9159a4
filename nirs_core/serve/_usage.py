"""What a server records about its use: the usage log and the Prometheus metrics.

- :class:`UsageLog`: one JSON line per request (time, route, status, model name and version,
  number of spectra, latency in ms, in-domain count) appended to a file that rotates at
  ``max_bytes`` (``usage.jsonl`` → ``usage.jsonl.1`` → … up to ``backups`` old files), through
  the standard library's :class:`logging.handlers.RotatingFileHandler` (thread-safe). An
  append-only log is the one file here that is not replaced atomically: a line is written in
  one ``write`` call, and a reader skips a last line cut by a crash.
- :class:`Metrics`: counters and a latency histogram per route, rendered in the Prometheus
  text exposition format by ``GET /metrics``.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import threading
from bisect import bisect_left
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["LATENCY_BUCKETS", "Metrics", "UsageLog"]

#: Upper bounds (seconds) of the latency histogram's buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class UsageLog:
    """The append-only usage log at ``path`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = 10 << 20, backups: int = 5) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger = logging.Logger(f"nirs.usage.{self.path}")  # not in the global registry
        self._logger.addHandler(handler)
        self._logger.propagate = False
        self._handler = handler

    def write(self, **fields: Any) -> None:
        line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
        self._logger.info(json.dumps(line, allow_nan=False, default=str))

    def close(self) -> None:
        self._handler.close()


def _labels(**labels: Any) -> str:
    inner = ",".join(f'{k}="{str(v).replace(chr(34), "")}"' for k, v in labels.items())
    return "{" + inner + "}"


class Metrics:
    """Request counters, a latency histogram per route and prediction counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.spectra = 0
        self.in_domain = 0

    def observe(
        self, method: str, route: str, status: int, seconds: float, spectra: int = 0, in_domain: int = 0
    ) -> None:
        with self._lock:
            key = (method, route, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            counts = self.latency.setdefault(route, [0] * (len(LATENCY_BUCKETS) + 1))
            counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self.latency_sum[route] = self.latency_sum.get(route, 0.0) + seconds
            self.spectra += spectra
            self.in_domain += in_domain

    def render(self, gauges: dict[str, tuple[str, float, dict[str, Any]]]) -> str:
        """The metrics as Prometheus text; ``gauges`` adds ``name: (help, value, labels)``."""
        out = [
            "# HELP nirs_requests_total HTTP requests by method, route and status.",
            "# TYPE nirs_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                out.append(f"nirs_requests_total{_labels(method=method, route=route, status=status)} {n}")
            out += [
                "# HELP nirs_request_seconds Request latency by route.",
                "# TYPE nirs_request_seconds histogram",
            ]
            for route, counts in sorted(self.latency.items()):
                running = 0
                for bound, n in zip((*LATENCY_BUCKETS, "+Inf"), counts):
                    running += n
                    out.append(f"nirs_request_seconds_bucket{_labels(route=route, le=bound)} {running}")
                out.append(f"nirs_request_seconds_sum{_labels(route=route)} {self.latency_sum[route]!r}")
                out.append(f"nirs_request_seconds_count{_labels(route=route)} {running}")
            out += [
                "# HELP nirs_predicted_spectra_total Spectra predicted.",
                "# TYPE nirs_predicted_spectra_total counter",
                f"nirs_predicted_spectra_total {self.spectra}",
                "# HELP nirs_in_domain_spectra_total Predicted spectra inside the model's domain (when known).",
                "# TYPE nirs_in_domain_spectra_total counter",
                f"nirs_in_domain_spectra_total {self.in_domain}",
            ]
        for name, (text, value, labels) in sorted(gauges.items()):
            out += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name}{_labels(**labels)} {value!r}"]
        return "\n".join(out) + "\n"
