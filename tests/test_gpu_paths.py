"""The GPU paths, on a CPU where they can be: ``train.compile`` equal to eager, ``train.bf16 = "auto"``,
the Transformer's CUDA attention path and its padding (loss and gradients unchanged),
the bench's GPU plan (chosen for CUDA, its pieces run at a tiny size), C20's step-mode lengths,
the GPU recipes, the report's device line. The tests marked ``cuda`` run only where a GPU is
(``scripts/gpu_check.sh``). No timing is asserted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import shutil
import sys
from pathlib import Path

import pytest
import torch

from seqlab.bench import lm as bench_lm
from seqlab.bench.plan import FULL, GPU, QUICK, SECTIONS, choose, for_device
from seqlab.build import build_model
from seqlab.data.batching import collate_pairs
from seqlab.data.tokenize import PAD
from seqlab.nn import transformer as tf
from seqlab.nn.attention_backbone import AttentionBackbone
from seqlab.nn.seq2seq import sequence_loss
from seqlab.recipe import load_recipe, recipe_from_dict
from seqlab.train import TrainConfig, Trainer
from seqlab.train.device import autocast, bf16_enabled

ROOT = Path(__file__).resolve().parents[1]
CPU, CUDA = torch.device("cpu"), torch.device("cuda")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
c20 = importlib.import_module("seqlab.experiments.recurrent.c20_parallel_scan")


# --- train.compile and bf16 ------------------------------------------------------------

def compile_unavailable() -> str | None:
    """Why torch.compile (inductor) cannot run here, or None."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    dynamo = importlib.import_module("torch._dynamo")
    if hasattr(dynamo, "is_dynamo_supported") and not dynamo.is_dynamo_supported():
        return f"torch.compile does not support Python {sys.version.split()[0]} on this torch"
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++", "cl")):
        return "no C++ compiler: inductor compiles its CPU kernels with one"
    return None


TINY_TASK = {"task": {"name": "adding", "length": 8}, "model": {"arch": "mingru", "hidden_size": 8},
             "train": {"steps": 3, "batch_size": 4, "lr": 0.01, "eval_every": 3, "progress": False}}


def _train(compile: bool, device: str = "cpu", run_dir=None):
    """(per-step losses, model, result) of the tiny recipe, with or without train.compile."""
    recipe = recipe_from_dict(TINY_TASK)
    cfg = dataclasses.replace(recipe.train, compile=compile, device=device, bf16="auto")
    torch.manual_seed(0)
    model = build_model(recipe.model, recipe.task)
    losses = []

    class Losses:
        def on_step(self, trainer, step, metrics):
            losses.append(metrics["loss"])

    result = Trainer(model, recipe.task, cfg, run_dir=run_dir, callbacks=[Losses()]).fit()
    return losses, model, result


@pytest.mark.skipif(compile_unavailable() is not None, reason=str(compile_unavailable()))
def test_compile_trains_like_eager_and_saves_plain_weights(tmp_path, one_thread):
    from seqlab.train import checkpoint as ckpt

    eager, eager_model, _ = _train(False)
    compiled, compiled_model, result = _train(True, run_dir=tmp_path / "run")
    assert result.steps == 3 and compiled == pytest.approx(eager, abs=1e-5)
    for a, b in zip(eager_model.parameters(), compiled_model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    saved = ckpt.load_checkpoint(tmp_path / "run").weights  # the uncompiled module's names
    assert set(saved) == set(eager_model.state_dict()) and not any("_orig_mod" in k for k in saved)


def test_compile_and_bf16_settings():
    assert TrainConfig().bf16 is False and TrainConfig().compile is False  # the defaults: as before
    recipe = recipe_from_dict({**TINY_TASK, "train": {**TINY_TASK["train"], "compile": True, "bf16": "auto"}})
    assert recipe.train.compile is True and recipe.train.bf16 == "auto"
    with pytest.raises(Exception, match="bf16"):
        recipe_from_dict({**TINY_TASK, "train": {**TINY_TASK["train"], "bf16": "maybe"}})
    transformer = tf.TransformerLM(4, 8, 2, 16, 1)
    lstm = build_model(recipe_from_dict({**TINY_TASK, "model": {"arch": "lstm", "hidden_size": 4}}).model,
                       recipe.task)
    assert bf16_enabled(CUDA, "auto", transformer) and not bf16_enabled(CPU, "auto", transformer)
    assert not bf16_enabled(CUDA, "auto", lstm)  # autocast would run cuDNN's LSTM in fp16, unscaled
    assert bf16_enabled(CUDA, True, lstm) and bf16_enabled(CPU, True) and not bf16_enabled(CUDA, False)
    assert isinstance(autocast(CPU, "auto"), contextlib.nullcontext)  # CPU training unchanged


# --- the Transformer: CUDA kernels path, padding -----------------------------------------

def _pairs(seed=0):
    """A PairBatch whose source and target lengths are not multiples of 8 (max 11 and 13 + 1)."""
    g = torch.Generator().manual_seed(seed)
    src = [torch.randint(3, 40, (n,), generator=g).tolist() for n in (11, 5, 9)]
    tgt = [torch.randint(3, 40, (n,), generator=g).tolist() for n in (7, 13, 4)]
    return collate_pairs(src, tgt, range(3))


def _loss_and_grads(model, pairs):
    logits, _ = model(pairs.src, pairs.src_mask, pairs.tgt_in)  # (B, T, V)
    assert logits.shape[:2] == pairs.tgt_out.shape
    loss = sequence_loss(logits.float(), pairs.tgt_out, PAD, 0.1, reduction="sum") / pairs.num_target_tokens
    return loss, torch.autograd.grad(loss, list(model.parameters()))


def test_transformer_padding_leaves_loss_and_gradients_unchanged():
    torch.manual_seed(0)
    plain = tf.Transformer(40, 40, d_model=16, heads=2, d_ff=32, enc_layers=2, dec_layers=2, dropout=0.0,
                           tie_embeddings=True, pad_multiple=1)
    padded = tf.Transformer(40, 40, d_model=16, heads=2, d_ff=32, enc_layers=2, dec_layers=2, dropout=0.0,
                            tie_embeddings=True, pad_multiple=8)
    padded.load_state_dict(plain.state_dict())
    pairs = _pairs()
    (l1, g1), (l2, g2) = _loss_and_grads(plain, pairs), _loss_and_grads(padded, pairs)
    torch.testing.assert_close(l2, l1, atol=1e-6, rtol=1e-6)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)
    _, w1 = plain(pairs.src, pairs.src_mask, pairs.tgt_in, need_weights=True)
    _, w2 = padded(pairs.src, pairs.src_mask, pairs.tgt_in, need_weights=True)
    assert w2.shape == w1.shape == (3, 2, pairs.tgt_in.size(1), pairs.src.size(1))
    torch.testing.assert_close(w2, w1, atol=1e-6, rtol=1e-5)
    assert tf.round_up(13, 8) == 16 and tf.round_up(16, 8) == 16 and tf.round_up(1, 8) == 8


def test_cuda_attention_matches_the_explicit_masks():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 4, generator=g) for _ in range(3))
    from seqlab.nn.attention import scaled_dot_product

    ref, _ = scaled_dot_product(q, k, v, tf.causal_mask(7))
    torch.testing.assert_close(tf.cuda_attention(q, k, v, None, 0.0, causal=True), ref, atol=1e-6, rtol=1e-5)
    keys = torch.tensor([[True] * 5 + [False] * 2, [True] * 7])[:, None, None, :]  # (B, 1, 1, S)
    ref, _ = scaled_dot_product(q, k, v, keys)
    torch.testing.assert_close(tf.cuda_attention(q, k, v, keys, 0.0, causal=False), ref, atol=1e-6, rtol=1e-5)


def test_models_through_the_cuda_attention_path_match_the_cpu_path(monkeypatch):
    """The branch CUDA tensors take (fused kernels, is_causal), forced on CPU tensors."""
    torch.manual_seed(0)
    mt = tf.Transformer(40, 40, d_model=16, heads=2, d_ff=32, enc_layers=2, dec_layers=2, dropout=0.0).eval()
    lm = tf.TransformerLM(6, 16, 2, 32, 2, dropout=0.0).eval()
    bidir = AttentionBackbone(6, 16, 2, 32, 2, causal=False).eval()
    pairs, x, lengths = _pairs(), torch.randn(2, 9, 6), torch.tensor([9, 4])

    def outputs():
        memory = mt.encode(pairs.src, pairs.src_mask)
        state, steps = mt.init_state(memory), []
        for t in range(3):  # incremental decoding: the cached prefix, no mask
            logits, state, _ = mt.decode_step(pairs.tgt_in[:, t], state, memory)
            steps.append(logits)
        return [mt(pairs.src, pairs.src_mask, pairs.tgt_in)[0], torch.stack(steps, 1), lm(x)[0],
                bidir(x, lengths=lengths)[0]]

    cpu = outputs()
    monkeypatch.setattr(tf, "on_cuda_kernels", lambda t: True)
    for a, b in zip(cpu, outputs()):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cpu[1], cpu[0][:, :3], atol=1e-5, rtol=1e-5)  # decoding == teacher forcing


# --- seqlab bench: the GPU plan -------------------------------------------------------

def test_bench_plan_follows_the_device():
    assert choose(CUDA) is GPU and choose("cuda:1") is GPU and choose(CPU) is FULL and choose(CUDA, quick=True) is QUICK
    assert for_device(FULL, CUDA) is GPU and for_device(FULL, CPU) is FULL and for_device(QUICK, CUDA) is QUICK
    with torch.device("meta"):
        model = bench_lm.build_lm(GPU.lm_vocab, GPU.lm_d_model, GPU.lm_heads, GPU.lm_layers)
    assert sum(p.numel() for p in model.parameters()) > 100e6 and GPU.lm_batch * GPU.lm_length >= 65536
    assert set(GPU.rec_variants) <= {"fused", "torch"} and min(GPU.rec_hidden) >= 1024 and GPU.rec_bf16
    assert max(GPU.att_lengths) >= 16384 and GPU.scan_step_max < max(GPU.scan_lengths)


def tiny_gpu_plan():
    """The GPU plan's structure at toy sizes (test only): every piece runs on a CPU in seconds."""
    return dataclasses.replace(
        GPU, name="gpu-tiny", warmup=0, repeats=1, gemm_n=64, copy_mib=1, step_shapes=(("x", 4, 8, 16),),
        rec_batches=(2,), rec_hidden=(8,), rec_lengths=(4,), scan_lengths=(4, 8, 16), scan_shapes=((2, 8),),
        scan_step_max=8, att_lengths=(8, 16), att_heads=2, att_head_dim=4, model_vocab=32, model_params=5000,
        model_batch=2, model_lengths=(4, 8), lm_layers=1, lm_d_model=16, lm_heads=2, lm_vocab=64, lm_batch=2,
        lm_length=8, lm_compile=False)


def _check_tiny_gpu_run(meta, sections, plan):
    by = {s.name: s for s in sections}
    assert meta["plan_name"] == "gpu-tiny" and list(by) == list(SECTIONS)
    rec = by["recurrent"].rows
    assert {r["arch"] for r in rec} == {"LSTM", "GRU"} and {r["variant"] for r in rec} == {"fused", "torch"}
    scan_rows = by["scan"].rows
    assert {r["T"] for r in scan_rows if r["model"].endswith("step")} == {4, 8}  # not at T = 16
    assert all(r["vs_step"] is None for r in scan_rows if r["T"] == 16)
    assert any("its step mode at T=8" in n for n in by["scan"].notes)
    lm_rows = [r for r in by["models"].rows if r["model"].startswith("transformer lm")]
    assert len(lm_rows) == 1 + plan.lm_compile and all(r["mfu"] > 0 for r in lm_rows)
    row = lm_rows[0]
    assert row["model_flops"] == bench_lm.flops_per_token(row["params"], 1, 8, 16) * 2 * 8


def test_gpu_plan_pieces_run_tiny_on_cpu(one_thread):
    from seqlab.bench.suite import run_suite

    plan = tiny_gpu_plan()
    meta, sections = run_suite(plan, CPU, SECTIONS, log=io.StringIO())
    _check_tiny_gpu_run(meta, sections, plan)


def test_lm_flop_count_matches_torchs_counter():
    """6 N + 12 L T d against FlopCounterMode on one fwd+bwd (N over the weight matrices: the
    counter sees matmuls only, not biases and norms)."""
    from seqlab.experiments.transformer.c16_parallelism import step_flops

    torch.manual_seed(0)
    V, d, L, B, T = 64, 16, 2, 2, 8
    model = bench_lm.build_lm(V, d, 2, L)
    params, tokens = list(model.parameters()), torch.randint(0, V, (B, T + 1))

    def fwd_bwd():
        logits, _ = model(tokens[:, :-1])
        return torch.autograd.grad(torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten()),
                                   params)

    matrices = sum(p.numel() for p in params if p.dim() == 2)
    counted = step_flops(model, fwd_bwd, B * T)
    assert bench_lm.flops_per_token(matrices, L, T, d) * B * T == pytest.approx(counted, rel=0.03)


# --- C20: the step mode only where it takes seconds ------------------------------------

def test_c20_full_profile_times_the_step_mode_up_to_1024():
    full, quick = c20.PROFILES["full"], c20.PROFILES["quick"]
    assert c20.step_lengths(full) == (256, 1024) and full.lengths[-1] == 4096
    assert "minGRU step" not in c20.variants_at(4096, full) and "minGRU step" in c20.variants_at(1024, full)
    assert c20.step_lengths(quick) == quick.lengths  # quick: unchanged
    assert c20._step_limit(quick) == "" and "T <= 1024" in c20._step_limit(full)


def test_c20_rule_reads_the_longest_step_length():
    cfg = c20.Config(lengths=(8, 16, 32), shapes=((1, 4),), step_max_length=16)
    seeds = (0, 1, 2)
    times = {}
    for T in cfg.lengths:
        times[(1, 4, T)] = {"minGRU scan": [0.001 * T] * 3, "nn.GRU": [0.002 * T] * 3}
        if T <= 16:
            times[(1, 4, T)]["minGRU step"] = [0.01 * T, 0.0101 * T, 0.0099 * T]  # 10x the scan (9.9x in the fastest rounds)
    curve, loss = [0.9, 0.95, 0.97, 0.97], [0.1, 0.01, 0.005, 0.005]
    q = {(a, s): {"accuracy": 0.97, "normalized": 0.005, "curve": curve, "loss curve": loss, "seconds": 1.0}
         for a in c20.QUALITY_ARCHS for s in seeds}
    s = c20.speedups(times, cfg, 1, 4)
    assert s["step_T"] == 16 and s["vs_step"] == pytest.approx(9.9) and s["vs_gru"] == pytest.approx(2.0)
    result = c20._verdict(c20.new_result("C20", "c", "s", "quick", {}), times, q, cfg, seeds)
    assert result.verdict == "confirmed" and "at T=16" in result.decided_by and result.headline.startswith("T=16")


# --- recipes and the report --------------------------------------------------------------

def test_every_config_loads_and_the_gpu_recipes_are_gpu_sized():
    paths = sorted((ROOT / "configs").glob("*.toml")) + sorted((ROOT / "configs").glob("*.yaml"))
    recipes = {p.name: load_recipe(p) for p in paths}
    gpu = {n: r for n, r in recipes.items() if n.startswith("gpu-")}
    assert {"gpu-mt-nt-transformer.toml", "gpu-mt-numbers-transformer.toml", "gpu-lm-bsb-transformer.toml"} <= set(gpu)
    for name, recipe in gpu.items():
        assert recipe.train.bf16 is True and recipe.train.device == "cuda" and recipe.train.steps, name
    nt, cpu_nt = recipes["gpu-mt-nt-transformer.toml"], recipes["mt-nt-transformer.toml"]
    assert nt.task.max_tokens >= 4 * cpu_nt.task.max_tokens and nt.model.hidden > cpu_nt.model.hidden


def test_report_names_the_device(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from report_fixtures import make_run
    finally:
        sys.path.remove(str(ROOT / "tests"))
    from seqlab.experiments.core.base import Result
    from seqlab.report.html import device_line, write_report

    make_run(tmp_path)
    html = write_report(tmp_path).read_text()
    assert "<p>Device: " in html
    gpu = Result("C1", "c", "s", "full", {}, machine={"processor": "x86_64", "cpu_count": 16, "cuda": "NVIDIA H200"})
    cpu = Result("C2", "c", "s", "quick", {}, machine={"processor": "x86_64", "cpu_count": 2, "cuda": None})
    assert device_line([gpu, gpu]) == "NVIDIA H200 (CUDA); host x86_64, 16 CPUs"
    assert device_line([cpu]) == "CPU only: x86_64, 2 CPUs"


# --- on a GPU only -----------------------------------------------------------------------

@cuda
def test_cuda_compile_and_bf16_train():
    losses, model, result = _train(True, device="cuda")  # mingru: no cuDNN RNN, "auto" is bf16 here
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert all(p.dtype == torch.float32 and p.is_cuda for p in model.parameters())
    layer = torch.nn.Linear(4, 4).cuda()
    with autocast(CUDA, "auto", layer):
        assert layer(torch.randn(2, 4, device="cuda")).dtype == torch.bfloat16


@cuda
def test_cuda_transformer_matches_cpu():
    """Fused kernels, is_causal and padding to multiples of 8 on the GPU against the CPU path (fp32)."""
    torch.manual_seed(0)
    model = tf.Transformer(40, 40, d_model=16, heads=2, d_ff=32, enc_layers=2, dec_layers=2, dropout=0.0)
    pairs = _pairs()
    cpu_loss, cpu_grads = _loss_and_grads(model, pairs)
    on_gpu = model.cuda()
    gpu_loss, gpu_grads = _loss_and_grads(on_gpu, pairs.to("cuda"))
    torch.testing.assert_close(gpu_loss.cpu(), cpu_loss, atol=1e-4, rtol=1e-4)
    for a, b in zip(cpu_grads, gpu_grads):
        torch.testing.assert_close(b.cpu(), a, atol=1e-4, rtol=1e-3)


@cuda
def test_gpu_plan_pieces_run_tiny_on_cuda():
    from seqlab.bench.suite import run_suite

    plan = dataclasses.replace(tiny_gpu_plan(), lm_compile=compile_unavailable() is None)
    meta, sections = run_suite(plan, CUDA, SECTIONS, log=io.StringIO())
    _check_tiny_gpu_run(meta, sections, plan)
    assert set(meta["peak_flops"]) == {"fp32", "bf16"}


def test_gpu_check_script_parses_and_the_stall_probe_summarizes():
    import subprocess

    assert subprocess.run(["bash", "-n", str(ROOT / "scripts/gpu_check.sh")]).returncode == 0
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        probe = importlib.import_module("stall_probe")
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    run = {"mode": "before", "times": [0.7] * 40 + [0.03] * 60, "distinct_batch_shapes": 52}
    line = probe.summary(run)
    assert "steps 1-10 700.0 ms" in line and "41-100 30.0 ms" in line and "all 29.8 s" in line
