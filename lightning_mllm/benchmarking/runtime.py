"""What every bench run shares: progress messages, peak memory, freeing memory, the environment."""

from __future__ import annotations

import gc
import platform
import re
import resource
import sys
import time
from pathlib import Path

import torch

_STARTED = time.perf_counter()
GIB = 1024 ** 3


def progress(message: str) -> None:
    """A timestamped line on stderr, so long model builds show they are alive."""
    print(f"[bench {time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def environment() -> dict[str, str]:
    """Versions and the device, for the results file."""
    import lightning
    import peft
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "lightning": lightning.__version__, "python": platform.python_version(), "device": device_name(),
            "cuda": str(torch.version.cuda)}


def _status_kib(key: str) -> int | None:
    try:
        match = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


class PeakMemory:
    """Peak memory of a block: ``torch.cuda.max_memory_allocated`` on a GPU; on a CPU the growth of
    the process's peak resident set over its resident set at the start.

    On Linux the peak resident set is reset at the start (``/proc/self/clear_refs``), so each run
    gets its own peak; elsewhere ``resource``'s lifetime maximum is used, and a run that peaks
    below an earlier one shows 0.
    """

    def __init__(self) -> None:
        self.kind = "cuda_max_memory_allocated" if torch.cuda.is_available() else "cpu_max_rss_delta"
        self._start_kib = 0
        self.peak_gib = 0.0

    def __enter__(self) -> "PeakMemory":
        free_memory()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
            return self
        try:
            Path("/proc/self/clear_refs").write_text("5")  # "5" resets the peak resident set (Linux)
            self._start_kib = _status_kib("VmRSS") or 0
        except OSError:
            self._start_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.peak_gib = self.read()

    def read(self) -> float:
        """The peak so far, in GiB."""
        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / GIB
        peak = _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(peak - self._start_kib, 0) * 1024 / GIB


def free_memory() -> None:
    """Returns what earlier runs left to the allocator, so runs do not see each other's memory."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(error: BaseException) -> bool:
    """True for a CUDA out-of-memory error, however a library wrapped it."""
    while error is not None:
        if isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower():
            return True
        error = error.__cause__ or error.__context__
    return False
