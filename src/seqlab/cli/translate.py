"""seqlab translate RUN_DIR ["source text" ...] [--beam N] [--attention out.png]"""

from __future__ import annotations

import sys


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run_dir", help="a translation run folder (from `seqlab train`)")
    parser.add_argument("text", nargs="*", help="sentences to translate (default: stdin, one per line)")
    parser.add_argument("--beam", type=int, default=5, help="beam size; 1 = greedy (default 5)")
    parser.add_argument("--alpha", type=float, default=0.6, help="GNMT length penalty (default 0.6)")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences decoded together")
    parser.add_argument("--attention", default=None, metavar="PNG",
                        help="write the first sentence's attention heatmap to this PNG")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the recipe's)")


def run(args) -> int:
    from seqlab.errors import SeqlabError
    from seqlab.data.tokenize import piece_surface
    from seqlab.metrics import save_attention_heatmap
    from seqlab.translation.evaluate import translate_ids
    from seqlab.translation.loop import load_translator

    if args.beam < 1 or args.batch_size < 1:
        raise SeqlabError("--beam and --batch-size must be at least 1")
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise SeqlabError("nothing to translate: give sentences as arguments or on stdin")
    model, src_tok, tgt_tok, recipe = load_translator(args.run_dir, args.device)
    device = next(model.parameters()).device
    sources = [src_tok.encode(t) for t in texts]
    hyps = translate_ids(model, sources, device, beam=args.beam, alpha=args.alpha,
                         max_len_ratio=recipe.train.max_len_ratio, batch_size=args.batch_size,
                         need_weights=args.attention is not None)
    for h in hyps:
        print(tgt_tok.decode(h.tokens))
    if args.attention:
        weights = hyps[0].attention
        if weights is None:
            raise SeqlabError(f"{recipe.model.arch} has no attention to draw (or the output is empty)")
        weights = weights.mean(0) if weights.dim() == 3 else weights  # average the heads
        save_attention_heatmap(weights.numpy(), [piece_surface(src_tok.id_to_piece(i)) for i in sources[0]],
                               [piece_surface(tgt_tok.id_to_piece(i)) for i in hyps[0].tokens], args.attention,
                               title=f"{recipe.model.arch} attention")
        print(f"attention heatmap written to {args.attention}", file=sys.stderr)
    return 0
