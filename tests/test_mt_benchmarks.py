"""The translation benchmark scripts on a tiny numbers recipe: they run, write JSON, and merge."""

import json
from pathlib import Path

import pytest
import torch

from seqlab.bench.recurrent import load_script
from seqlab.train.device import cpu_has_bf16

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
RECIPE = """
[task]
name = "translation"
corpus = "numbers"
tokenizer = "char"
src_vocab = 300
tgt_vocab = 300
numbers_size = 80
numbers_max_words = 4
max_tokens = 300
eval_sentences = 2
[model]
arch = "{arch}"
embed_dim = 8
hidden = 16
layers = 1
[train]
max_minutes = 1.0
steps = 2
device = "cpu"
progress = false
"""

pytestmark = pytest.mark.skipif(not BENCH.is_dir(), reason="benchmarks/ is not in this checkout")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def recipe(tmp_path: Path, arch: str) -> str:
    path = tmp_path / f"mt-numbers-{arch}.toml"
    path.write_text(RECIPE.format(arch=arch))
    return str(path)


def test_throughput_times_the_plain_and_fused_paths_alike(tmp_path, capsys):
    module = load_script(BENCH / "mt_throughput.py")
    out = tmp_path / "tp.json"
    assert module.main([recipe(tmp_path, "bahdanau"), "--threads", "1", "--warmup", "1", "--steps", "1",
                        "--rounds", "2", "--baseline", "100", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    bf16 = ["plain-bf16", "fused-bf16"] if cpu_has_bf16() else []
    assert [r["variant"] for r in rows] == ["plain-fp32", "fused-fp32", *bf16]
    assert all(r["parameters"] == rows[0]["parameters"] > 0 for r in rows)
    for r in rows:
        assert len(r["rates"]) == 2 and r["tokens_per_s"] > 0 and r["loss"] == r["loss"]  # not NaN
        assert r["vs_baseline"] == pytest.approx(r["tokens_per_s"] / 100)
        assert len(r["flops_per_s"]) == 2 and 0 < r["of_peak"]
    assert "threads 1" in capsys.readouterr().out


def test_table_trains_scores_and_merges(tmp_path, capsys):
    module = load_script(BENCH / "mt_table.py")
    for arch in ("seq2seq", "luong"):
        assert module.main([recipe(tmp_path, arch), "--threads", "1", "--beam", "1", "--limit", "6",
                            "--out", str(tmp_path / arch)]) == 0
    if cpu_has_bf16():  # elsewhere train.bf16 is refused in one line (there are no bf16 units to use)
        assert module.main([recipe(tmp_path, "seq2seq"), "--threads", "1", "--beam", "1", "--limit", "2",
                            "--set", "train.bf16=true", "--out", str(tmp_path / "bf16")]) == 0
        assert json.loads((tmp_path / "bf16" / "table.json").read_text())["rows"][0]["model"] == \
            "mt-numbers-seq2seq train.bf16=true"
    assert module.main(["--merge", str(tmp_path / "seq2seq" / "table.json"), str(tmp_path / "luong" / "table.json"),
                        "--out", str(tmp_path / "all")]) == 0
    merged = json.loads((tmp_path / "all" / "table.json").read_text())
    assert [r["model"] for r in merged["rows"]] == ["mt-numbers-seq2seq", "mt-numbers-luong"]
    assert set(merged["curves"]) == {"mt-numbers-seq2seq", "mt-numbers-luong"}
    table = (tmp_path / "all" / "table.md").read_text()
    assert "exact 41+" in table and "chrF 31-40" in table  # numbers: exact match and chrF by length
    assert "dev chrf against minutes:" in table and "  mt-numbers-luong: " in table
    assert (tmp_path / "all" / "dev_chrf_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_stacked_seeds_step_matches_the_seeds_one_by_one():
    """benchmarks/stack_seeds.py: one vmapped step of stacked seeds gives each seed's own gradient and update."""
    import warnings

    stack = load_script(BENCH / "stack_seeds.py")
    models, xs, ys = [], [], []
    for s in range(2):
        torch.manual_seed(s)
        models.append(stack.TinyLM("gru", 11, 8))
        xs.append(torch.randint(11, (3, 5), generator=torch.Generator().manual_seed(s)))
        ys.append(torch.randint(11, (3, 5), generator=torch.Generator().manual_seed(10 + s)))
    twins = [stack.TinyLM("gru", 11, 8) for _ in range(2)]
    for twin, m in zip(twins, models):
        twin.load_state_dict(m.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no batching rule for torch's CPU RNN kernel: vmap loops (the point)
        step, params = stack.stacked(twins, xs, ys, lr=1e-2)
        step()
    stack.one_by_one(models, [torch.optim.Adam(m.parameters(), lr=1e-2) for m in models], xs, ys)()
    for k, stacked_value in params.items():
        for i, m in enumerate(models):
            assert torch.allclose(stacked_value[i], dict(m.named_parameters())[k], atol=1e-6), k
