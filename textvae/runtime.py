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


def cpu_flags() -> set[str]:
    """The processor's feature flags (/proc/cpuinfo; empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def has_amx() -> bool:
    """Whether the processor has AMX (Intel Sapphire Rapids on), where oneDNN runs bf16 products through
    its own kernels, with bugs of their own (textvae/text/kernels.py, AMX_NOTE)."""
    return "amx_bf16" in cpu_flags()


_precision_ok: dict[str, bool] = {}


def lstm_runs_in(precision: str) -> bool:
    """Whether an LSTM runs on this CPU under `precision` autocast (bf16 or fp16; "no" always runs).

    oneDNN builds its bf16 and fp16 LSTM only on processors with AVX-512: on an AVX2-only CPU (an AMD
    EPYC of the Zen 2/3 generations, seen 2026-12-07) a bf16 nn.LSTM raises "could not create a primitive
    descriptor for the LSTM forward propagation primitive" at the first step. Probed once per process with
    a tiny LSTM, the operation that fails."""
    if precision == "no":
        return True
    if precision not in _precision_ok:
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        lstm = torch.nn.LSTM(4, 4, batch_first=True)
        try:
            with torch.autocast("cpu", dtype=dtype), torch.no_grad():
                lstm(torch.zeros(1, 2, 4))
            _precision_ok[precision] = True
        except RuntimeError:
            _precision_ok[precision] = False
    return _precision_ok[precision]


# the instructions that make each autocast precision native on an x86 CPU
NATIVE = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ("avx512_fp16", "amx_fp16")}


def usable_precision(precision: str) -> tuple[str, str | None]:
    """The autocast precision a CPU run should use: `precision`, or "no" (float32) on an x86 CPU without
    instructions for it, where torch emulates it: the shipped bf16 LSTM config then trained at 431
    tokens/s against 5,035 in float32 (AMD EPYC with AVX2 only, 2026-12-07), and oneDNN has no bf16 LSTM
    there at all. Also the one line that says so when it changes; (precision, None) when it does not,
    and on a GPU (ACCELERATE_USE_CPU unset and CUDA available) or a CPU whose flags are unknown."""
    if precision == "no" or precision not in NATIVE:
        return precision, None
    if os.environ.get("ACCELERATE_USE_CPU", "").lower() not in ("1", "true", "yes"):
        import torch

        if torch.cuda.is_available():
            return precision, None
    flags = cpu_flags()
    if not flags or not (flags & {"avx2", "avx512f"}) or flags & set(NATIVE[precision]):
        return precision, None
    return "no", (
        f"this CPU ({processor_name()}) has no {precision} instructions ({' or '.join(NATIVE[precision])}), "
        f"where {precision} is emulated and many times slower; running in float32 instead"
    )


def checked_precision(precision: str, option: str) -> str:
    """usable_precision(precision), saying on stderr (from the first process only) when it changes it;
    `option` names the setting in that line (train.mixed_precision, --mixed-precision)."""
    usable, why = usable_precision(precision)
    if why and os.environ.get("RANK", "0") == "0":
        print(f"{option} {precision}: {why}", file=sys.stderr, flush=True)
    return usable
