"""The sizes every benchmark section runs at: the full grid and the ``--quick`` one."""

from __future__ import annotations

from dataclasses import dataclass

# the sections of ``seqlab bench``, in the order they run and print
SECTIONS = ("machine", "recurrent", "scan", "attention", "models")

# (label, m, k, n): one GEMM (m, k) @ (k, n) as a model runs it at each step
StepShape = tuple[str, int, int, int]


@dataclass(frozen=True)
class BenchPlan:
    """Grid sizes and repeat counts; ``FULL`` and ``QUICK`` below are the two in use."""

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
    rec_batches: tuple[int, ...] = (1, 32)
    rec_hidden: tuple[int, ...] = (128, 512)
    rec_lengths: tuple[int, ...] = (64, 512)
    rec_compiled: bool = True  # also time the cell backend under torch.compile
    # parallel recurrences (minGRU / minLSTM vs step by step vs nn.GRU)
    scan_lengths: tuple[int, ...] = (64, 256, 1024, 4096)
    # (B, H) pairs: a small step (overhead-bound when run step by step) and a wide one
    scan_shapes: tuple[tuple[int, int], ...] = ((1, 128), (16, 256))
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


FULL = BenchPlan()

QUICK = BenchPlan(
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
