"""The sizes every benchmark section runs at: the CPU grid, the ``--quick`` one and the GPU one.

``choose(device, quick)`` picks: ``--quick`` -> QUICK (a smoke test anywhere), a CUDA
device -> GPU, else FULL (sized for a CPU). ``run_suite`` also turns FULL into GPU on a
CUDA device, so a caller that passes FULL gets the GPU plan there. (No torch import here:
the command line reads SECTIONS before it loads torch.)
"""

from __future__ import annotations

from dataclasses import dataclass

# the sections of ``seqlab bench``, in the order they run and print
SECTIONS = ("machine", "recurrent", "scan", "attention", "models")

# (label, m, k, n): one GEMM (m, k) @ (k, n) as a model runs it at each step
StepShape = tuple[str, int, int, int]


@dataclass(frozen=True)
class BenchPlan:
    """Grid sizes and repeat counts; ``FULL``, ``QUICK`` and ``GPU`` below are the ones in use."""

    name: str = "full"
    warmup: int = 1
    repeats: int = 5
    # machine ceilings
    gemm_n: int = 2048
    copy_mib: int = 256
    step_shapes: tuple[StepShape, ...] = (
        ("rnn step B=1 H=512", 1, 512, 512),
        ("gru step B=1 H=512", 1, 512, 1536),
        ("lstm step B=1 H=512", 1, 512, 2048),
        ("rnn step B=32 H=512", 32, 512, 512),
        ("gru step B=32 H=512", 32, 512, 1536),
        ("lstm step B=32 H=512", 32, 512, 2048),
        ("lstm input proj B*T=16384", 16384, 512, 2048),
        ("transformer ffn B*T=4096 d=512", 4096, 512, 2048),
        ("convs2s k=3 B*T=4096 d=512", 4096, 1536, 1024),
    )
    # recurrent layers (training tokens/s)
    rec_archs: tuple[str, ...] = ("RNN", "LSTM", "GRU")
    rec_variants: tuple[str, ...] = ("cell", "fused", "torch")
    rec_batches: tuple[int, ...] = (1, 32)
    rec_hidden: tuple[int, ...] = (128, 512)
    rec_lengths: tuple[int, ...] = (64, 512)
    rec_compiled: bool = True  # also time the cell backend under torch.compile
    rec_bf16: bool = False  # under autocast on CUDA (cuDNN's RNNs then run in fp16), against the bf16 peak
    # parallel recurrences (minGRU / minLSTM vs step by step vs nn.GRU)
    scan_lengths: tuple[int, ...] = (64, 256, 1024, 4096)
    # (B, H) pairs: a small step (overhead-bound when run step by step) and a wide one
    scan_shapes: tuple[tuple[int, int], ...] = ((1, 128), (16, 256))
    scan_step_max: int | None = None  # the step-by-step modes only up to this T (None: every T)
    # attention (naive vs SDPA)
    att_lengths: tuple[int, ...] = (128, 512, 1024, 2048, 4096)
    att_batch: int = 1
    att_heads: int = 4
    att_head_dim: int = 64
    # models (matched parameter counts, S = T)
    model_vocab: int = 1000
    model_params: int = 2_000_000
    model_batch: int = 16
    model_lengths: tuple[int, ...] = (32, 64, 128, 256)
    # a decoder-only Transformer LM in the models section (lm_layers = 0: none)
    lm_layers: int = 0
    lm_d_model: int = 768
    lm_heads: int = 12
    lm_vocab: int = 32768
    lm_batch: int = 32
    lm_length: int = 2048
    lm_compile: bool = False  # also time it under torch.compile


FULL = BenchPlan()

QUICK = BenchPlan(
    name="quick",
    warmup=1,
    repeats=2,
    gemm_n=128,
    copy_mib=4,
    step_shapes=(("lstm step B=2 H=32", 2, 32, 128), ("transformer ffn B*T=64 d=32", 64, 32, 128)),
    rec_batches=(2,),
    rec_hidden=(16,),
    rec_lengths=(8, 16),
    rec_compiled=False,
    scan_lengths=(8, 16),
    scan_shapes=((2, 16),),
    att_lengths=(8, 16),
    att_batch=1,
    att_heads=2,
    att_head_dim=8,
    model_vocab=50,
    model_params=20_000,
    model_batch=2,
    model_lengths=(8, 16),
)

# One H100/H200-class GPU, about 2-3 minutes in all (estimated from the parts' FLOPs and the
# step-by-step modes' launch-bound cost: minGRU step mode ~0.4 s per fwd+bwd at T = 1024, 1.7 s
# at T = 4096, hence scan_step_max). Everything runs under bf16 autocast and utilization is
# measured against the bf16 GEMM peak of the same run.
GPU = BenchPlan(
    name="gpu",
    warmup=1,
    repeats=5,
    gemm_n=8192,
    copy_mib=4096,
    step_shapes=(
        ("lstm step B=64 H=1024", 64, 1024, 4096),
        ("lstm step B=64 H=2048", 64, 2048, 8192),
        ("lstm step B=256 H=2048", 256, 2048, 8192),
        ("lstm input proj B*T=65536 H=2048", 65536, 2048, 8192),
        ("transformer qkv B*T=65536 d=768", 65536, 768, 2304),
        ("transformer ffn B*T=65536 d=768", 65536, 768, 3072),
        ("lm head B*T=65536 V=32768", 65536, 768, 32768),
    ),
    rec_archs=("LSTM", "GRU"),
    rec_variants=("fused", "torch"),  # both run cuDNN's kernels; the cell loop is the CPU's story
    rec_batches=(64, 256),
    rec_hidden=(1024, 2048),
    rec_lengths=(256,),
    rec_compiled=False,
    rec_bf16=True,
    scan_lengths=(256, 1024, 4096, 16384),
    scan_shapes=((16, 256), (16, 1024)),
    scan_step_max=1024,
    att_lengths=(1024, 2048, 4096, 8192, 16384),
    att_batch=1,
    att_heads=8,
    att_head_dim=64,
    model_vocab=8192,
    model_params=20_000_000,
    model_batch=64,
    model_lengths=(128, 256, 512),
    lm_layers=12,  # ~110M parameters (GPT-2 small's shape, tied head): 65,536 tokens per step
    lm_d_model=768,
    lm_heads=12,
    lm_vocab=32768,
    lm_batch=32,
    lm_length=2048,
    lm_compile=True,
)


def choose(device, quick: bool = False) -> BenchPlan:
    """QUICK when asked; GPU on a CUDA device (a ``torch.device`` or its name); FULL (the CPU grid) elsewhere."""
    if quick:
        return QUICK
    kind = getattr(device, "type", str(device).split(":")[0])
    return GPU if kind == "cuda" else FULL


def for_device(plan: BenchPlan, device) -> BenchPlan:
    """``plan``, except that the CPU grid (FULL) becomes the GPU plan on a CUDA device."""
    return choose(device) if plan == FULL else plan
