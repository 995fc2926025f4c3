"""seqlab translate RUN_DIR ["source text" ...] [--beam N] [--attention out.png]

Sentences come from the arguments or from stdin, one a line; the output has one line per
input line, in order, and an empty input line gives an empty output line.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ATTENTION_FORMATS = (".png", ".pdf", ".svg")


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run_dir", help="a translation run folder (from `seqlab train`)")
    parser.add_argument("text", nargs="*", help="sentences to translate (default: stdin, one per line)")
    parser.add_argument("--beam", type=int, default=5, help="beam size, 1 (greedy) to 64 (default 5)")
    parser.add_argument("--alpha", type=float, default=0.6, help="GNMT length penalty (default 0.6)")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences decoded together")
    parser.add_argument("--attention", default=None, metavar="PNG",
                        help="write the first sentence's attention heatmap to this file (.png, .pdf or .svg)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the recipe's)")


def read_lines(stream) -> list[str]:
    """The lines of a binary stream as text: split at newlines only (a trailing CR dropped),
    UTF-8 strictly; a line that is not UTF-8 is an error naming it."""
    from seqlab.errors import SeqlabError

    data = stream.read()
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the newline that ends the last line
        lines.pop()
    texts = []
    for number, raw in enumerate(lines, 1):
        try:
            texts.append(raw.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as err:
            raise SeqlabError(f"stdin line {number} is not UTF-8 text (byte {err.start + 1}: "
                              f"{raw[err.start:err.start + 1]!r}); convert it, e.g. with iconv") from None
    return texts


def check_options(args) -> None:
    from seqlab.errors import SeqlabError

    from seqlab.decode import MAX_BEAM

    if not 1 <= args.beam <= MAX_BEAM:
        raise SeqlabError(f"--beam must be between 1 and {MAX_BEAM}, got {args.beam}")
    if args.batch_size < 1:
        raise SeqlabError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not math.isfinite(args.alpha) or args.alpha < 0:
        raise SeqlabError(f"--alpha must be a number >= 0, got {args.alpha}")
    if args.attention is not None:
        path = Path(args.attention)
        if path.suffix.lower() not in ATTENTION_FORMATS:
            raise SeqlabError(f"--attention {path}: name a {', '.join(ATTENTION_FORMATS)} file")
        if not path.parent.is_dir():
            raise SeqlabError(f"--attention {path}: the folder {path.parent} does not exist")


def run(args) -> int:
    from seqlab.data.tokenize import check_text, piece_surface
    from seqlab.errors import SeqlabError
    from seqlab.metrics import save_attention_heatmap
    from seqlab.translation.evaluate import translate_ids
    from seqlab.translation.loop import load_translator

    check_options(args)
    texts = args.text if args.text else read_lines(sys.stdin.buffer)
    for i, text in enumerate(args.text):  # argv that was not UTF-8 reaches Python as lone surrogates
        try:
            check_text(text)
        except SeqlabError as err:
            raise SeqlabError(f"sentence {i + 1}: {err}") from None
    if not texts:
        raise SeqlabError("nothing to translate: give sentences as arguments or on stdin")
    model, src_tok, tgt_tok, recipe = load_translator(args.run_dir, args.device)
    device = next(model.parameters()).device
    todo = [i for i, t in enumerate(texts) if t.strip()]  # an empty line translates to an empty line
    for i, t in enumerate(texts):
        if not t.strip() and args.text:
            print(f"seqlab translate: warning: sentence {i + 1} is empty; its line stays empty", file=sys.stderr)
    sources = [src_tok.encode(texts[i]) for i in todo]
    hyps = translate_ids(model, sources, device, beam=args.beam, alpha=args.alpha,
                         max_len_ratio=recipe.task.max_len_ratio, batch_size=args.batch_size,
                         need_weights=args.attention is not None) if sources else []
    out = [""] * len(texts)
    for i, h in zip(todo, hyps):
        out[i] = " ".join(tgt_tok.decode(h.tokens).splitlines())  # one line per input, whatever was decoded
    for line in out:
        print(line)
    if args.attention:
        weights = hyps[0].attention if hyps else None
        if weights is None:
            raise SeqlabError(f"{recipe.model.arch} has no attention to draw (or the output is empty)")
        weights = weights.mean(0) if weights.dim() == 3 else weights  # average the heads
        save_attention_heatmap(weights.numpy(), [piece_surface(src_tok.id_to_piece(i)) for i in sources[0]],
                               [piece_surface(tgt_tok.id_to_piece(i)) for i in hyps[0].tokens], args.attention,
                               title=f"{recipe.model.arch} attention")
        print(f"attention heatmap written to {args.attention}", file=sys.stderr)
    return 0
