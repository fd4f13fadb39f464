"""Process-wide settings that make long CPU runs faster; called by the trainer and the evaluator."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_done = False


def keep_freed_memory() -> None:
    """Let glibc keep freed blocks of up to 32 MB for reuse instead of returning them to the system.

    A training step allocates and frees tensors of a few MB (logits, their gradient, an embedding's
    gradient); by default glibc maps each afresh, and every first touch of a page is a page fault:
    1,650 faults and ~6 ms of a 110 ms step on the PTB shapes (measured with getrusage). No effect
    where the C library is not glibc."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return
    _done = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # the largest value glibc accepts on 64-bit
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        pass


# oneDNN primitives kept for reuse (its default is 1,024); see bound_onednn_cache
ONEDNN_CACHE_CAPACITY = 256


def bound_onednn_cache() -> None:
    """Keep at most ONEDNN_CACHE_CAPACITY oneDNN primitives cached, unless the user has set
    ONEDNN_PRIMITIVE_CACHE_CAPACITY.

    oneDNN (torch's CPU kernels for bf16 products and RNNs) keeps the primitive it builds for each
    distinct shape, with its buffers, up to 1,024 of them. Batches of sentences bring new shapes at
    nearly every step, so memory grew all through a run: the PTB language model (3M parameters, bf16)
    reached 6.8 GB of RSS. The output layer's row count is now rounded so its shapes recur
    (textvae.text.kernels.linear_log_prob), and this bound caps what other shapes can add (long
    sentences, many lengths). oneDNN reads the variable when it builds its first primitive, so this
    runs before any product."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_CACHE_CAPACITY))


def runtime_facts() -> dict:
    """What a run's numbers depend on beyond its config: versions, threads, the oneDNN cache bound."""
    import platform

    import torch

    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "onednn_primitive_cache_capacity": os.environ.get("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "default"),
    }


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB (its high-water mark), or None where unknown."""
    try:
        import resource
    except ImportError:  # not on Unix
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KB on Linux


def seconds_since_start() -> float | None:
    """Wall seconds since this process started (Linux: from /proc), or None where unknown."""
    import os

    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def finish_processes(accelerator) -> None:
    """Every process, at the end of a command: wait for the others, then close the process group. A
    process that exits while another still works (the main one writing results) aborts now and then
    under gloo ("terminate called without an active exception")."""
    accelerator.wait_for_everyone()
    accelerator.end_training()


def processor_name() -> str:
    """The processor's model name from /proc/cpuinfo (benchmarks name the machine they ran on; times
    measured on different processors are not comparable); else what `platform` knows."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def has_amx() -> bool:
    """Whether the processor has AMX (Intel Sapphire Rapids on), where oneDNN runs bf16 products through
    its own kernels, with bugs of their own (textvae/text/kernels.py, AMX_NOTE)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return any(line.startswith("flags") and "amx_bf16" in line.split() for line in f)
    except OSError:
        return False
