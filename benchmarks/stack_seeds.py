"""Seeds trained one by one against the same seeds stacked into one vmapped model.

A claim trains each model for several seeds with the same shapes. ``torch.func`` can stack
the seeds' parameters (``stack_module_state``) and run one training step for all of them
with ``vmap`` over (parameters, batch): fewer, larger kernels. This times one training step
(forward, backward, an Adam update) per seed done both ways, at one thread, in interleaved
rounds, for the ledger's common unit shapes (a character LSTM LM as in C31; a GRU), and
prints the ratio. The ledger keeps separate units unless stacking wins clearly.

Models are torch's own ``nn.LSTM``/``nn.GRU`` behind an embedding and a head: seqlab's fused
attention decoders use custom autograd functions, which ``vmap`` cannot batch, so the
translation units could not be stacked this way at all.

    python benchmarks/stack_seeds.py --seeds 3 --rounds 7 --json runs/bench/stack.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from seqlab.bench.machine import cpu_line


class TinyLM(nn.Module):
    """Embedding -> one recurrent layer -> vocabulary logits."""

    def __init__(self, cell: str, vocab: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(x))  # (B, T, H)
        return self.head(out)  # (B, T, V)


def loss_of(model: nn.Module, params: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = functional_call(model, params, (x,))  # (B, T, V)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def one_by_one(models, optims, xs, ys):
    """A training step of each seed's model in turn."""
    def step():
        for m, opt, x, y in zip(models, optims, xs, ys):
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(m(x).flatten(0, 1), y.flatten())
            loss.backward()
            opt.step()
    return step


def stacked(models, xs, ys, lr: float):
    """One vmapped training step of all seeds (gradients by ``grad_and_value``, then Adam on the stacks),
    and the stacked parameters it updates (name -> (K, ...))."""
    params, buffers = stack_module_state(models)
    params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    base = models[0]
    grads = vmap(grad_and_value(lambda p, x, y: loss_of(base, p, x, y)))
    opt = torch.optim.Adam(params.values(), lr=lr)
    X, Y = torch.stack(xs), torch.stack(ys)  # (K, B, T)

    def step():
        g, _ = grads(params, X, Y)
        for k, v in params.items():
            v.grad = g[k]
        opt.step()
    return step, params


def measure(cell: str, seeds: int, batch: int, length: int, hidden: int, vocab: int, rounds: int) -> dict:
    models, xs, ys = [], [], []
    for s in range(seeds):
        torch.manual_seed(s)
        models.append(TinyLM(cell, vocab, hidden))
        g = torch.Generator().manual_seed(100 + s)
        xs.append(torch.randint(vocab, (batch, length), generator=g))
        ys.append(torch.randint(vocab, (batch, length), generator=g))
    ways = {"one by one": one_by_one(models, [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models], xs, ys),
            "stacked (vmap)": stacked([TinyLM(cell, vocab, hidden) for _ in range(seeds)], xs, ys, 1e-3)[0]}
    for fn in ways.values():  # warm-up
        fn()
    times = {k: [] for k in ways}
    for _ in range(rounds):  # interleaved
        for k, fn in ways.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    fastest = {k: min(v) for k, v in times.items()}
    return {"cell": cell, "seeds": seeds, "batch": batch, "length": length, "hidden": hidden,
            "ms": {k: 1e3 * statistics.median(v) for k, v in times.items()},
            "fastest_ms": {k: 1e3 * v for k, v in fastest.items()},
            "speedup": fastest["one by one"] / fastest["stacked (vmap)"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the ledger's units use one)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(cpu_line())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.seeds} seeds, "
          f"{args.rounds} interleaved rounds; times per step of all seeds, median (fastest)")
    rows = [measure(cell, args.seeds, batch, length, hidden, 96, args.rounds)
            for cell, batch, length, hidden in (("lstm", 16, 32, 64), ("gru", 16, 32, 64), ("lstm", 32, 128, 128))]
    print(f"{'cell':>5} {'B':>3} {'T':>4} {'H':>4} {'one by one ms':>16} {'stacked ms':>14} {'speedup':>8}")
    for r in rows:
        one, st = r["ms"]["one by one"], r["ms"]["stacked (vmap)"]
        print(f"{r['cell']:>5} {r['batch']:>3} {r['length']:>4} {r['hidden']:>4} "
              f"{one:>8.1f} ({r['fastest_ms']['one by one']:.1f}) {st:>7.1f} ({r['fastest_ms']['stacked (vmap)']:.1f})"
              f" {r['speedup']:>7.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": cpu_line(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
