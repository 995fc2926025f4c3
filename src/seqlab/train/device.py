"""Device choice and precision."""

from __future__ import annotations

import contextlib
import functools
import os

import torch


def pick_device(name: str = "auto") -> torch.device:
    """cuda (one per local rank), then mps, then cpu; or exactly what is asked for."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            from seqlab.errors import SeqlabError

            raise SeqlabError("device 'cuda' was asked for, but no CUDA GPU is visible")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    from seqlab.errors import SeqlabError

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise SeqlabError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SeqlabError(f"device {name!r} was asked for, but no CUDA GPU is visible")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SeqlabError(f"device {name!r} was asked for, but only {torch.cuda.device_count()} CUDA GPU(s) are visible")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise SeqlabError("device 'mps' was asked for, but MPS is not available here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise SeqlabError(f"device {name!r} is not supported; use auto, cpu, cuda, cuda:N or mps")
    return device


def bf16_enabled(device: torch.device, bf16: bool | str, model: torch.nn.Module | None = None) -> bool:
    """Whether training ``model`` on ``device`` runs under bf16 autocast: true / false as asked;
    "auto": on CUDA, unless ``model`` has recurrent layers with torch's kernels (``weight_hh_l0``):
    torch's autocast runs cuDNN's RNNs in fp16, not bf16, and nothing here scales the loss."""
    if bf16 != "auto":
        return bool(bf16)
    if device.type != "cuda":
        return False
    return model is None or not any(hasattr(m, "weight_hh_l0") for m in model.modules())


def autocast(device: torch.device, bf16: bool | str, model: torch.nn.Module | None = None):
    """bf16 autocast on CUDA or CPU when asked (weights and optimizer stay float32); else full precision.

    ``bf16`` "auto" follows ``bf16_enabled``. On CUDA, tensor cores run bf16 at many times the
    fp32 rate and bf16 keeps fp32's exponent range (no loss scaling needed). On CPUs with bf16
    matrix units (AVX512-BF16, AMX) the matmuls and the oneDNN LSTM run faster (1.3-1.8x
    training tokens/s for the translation models on an AVX512-BF16 EPYC); elsewhere bf16 may
    be slower, which is why it is opt-in there.
    """
    on = bf16_enabled(device, bf16, model)
    if on and device.type == "cpu" and not cpu_has_bf16():
        from seqlab.errors import SeqlabError

        raise SeqlabError("train.bf16 = true needs CUDA or a CPU with bf16 units (AVX512-BF16, AMX); "
                          "this CPU has none: set train.bf16 = false")
    if on and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def compile_model(model: torch.nn.Module) -> torch.nn.Module:
    """``torch.compile(model)``: the wrapper trains; ``model`` itself (the same parameters)
    stays what checkpoints save and load, so no ``_orig_mod.`` prefixes reach them.

    Shapes that change from batch to batch (translation's padded lengths) recompile once,
    then run with dynamic shapes.
    """
    return torch.compile(model)  # torch >= 2.4 (the project's floor) always has it


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether oneDNN finds bf16 units on this CPU (without them bf16 kernels fail or crawl)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def seed_everything(seed: int, deterministic: bool = False) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed % 2**64)  # any int: torch takes 64 bits
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
