"""seqlab generate RUN --prompt TEXT [--temperature T] [--top-k K] [-n N]

The text is printed as it is sampled (the prompt first).
"""

from __future__ import annotations

import codecs
import math
import sys

from seqlab.cli import seed_value

# tokens one call may sample: about 2 minutes for the 1 x 384 character LSTM of configs/ on a busy 2-core
# CPU (~10 ms a token); a Transformer backbone keeps no state and re-reads the prefix for every token
MAX_LENGTH = 10_000


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run", help="a language model's run folder (or a checkpoint folder in it)")
    parser.add_argument("--prompt", default="\n", help="text to continue (default: a new line)")
    parser.add_argument("-n", "--length", type=int, default=300, help=f"tokens to sample (1 to {MAX_LENGTH:,})")
    parser.add_argument("--temperature", type=float, default=0.8, help="> 0 samples; 0 = greedy")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens (k >= 1; default: all)")
    parser.add_argument("--seed", type=seed_value, default=0, help="seed of the sampling")


def check_options(args) -> None:
    from seqlab.errors import SeqlabError

    if not 1 <= args.length <= MAX_LENGTH:
        raise SeqlabError(f"-n must be between 1 and {MAX_LENGTH:,} tokens, got {args.length}")
    if not math.isfinite(args.temperature) or args.temperature < 0:
        raise SeqlabError(f"--temperature must be a number >= 0 (0 = greedy), got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        raise SeqlabError(f"--top-k must be at least 1, got {args.top_k}")


def run(args) -> int:
    from seqlab.data.lm import CorpusLM
    from seqlab.data.tokenize import BYTE_OFFSET, FIRST_SYMBOL
    from seqlab.errors import SeqlabError
    from seqlab.generate import generate_stream
    from seqlab.recipe import load_trained

    check_options(args)
    recipe, model = load_trained(args.run)
    if not isinstance(recipe.task, CorpusLM):
        raise SeqlabError(f"{args.run} is not a language model (its task is {type(recipe.task).__name__})")
    tok = recipe.task.tokenizer_obj
    try:
        prompt = tok.encode(args.prompt)
    except SeqlabError as err:
        raise SeqlabError(f"--prompt: {err}") from None
    if not prompt:
        raise SeqlabError("the prompt encodes to no tokens; give some text")
    out = sys.stdout
    out.write(args.prompt)
    out.flush()
    # Each id is written as soon as it is drawn. Byte-fallback ids go through an incremental
    # UTF-8 decoder, so a character spelled in several bytes appears once it is complete;
    # the text is the same as decoding all ids at once (the tokenizers decode by concatenation).
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for i in generate_stream(model, prompt, args.length, args.temperature, args.top_k, args.seed):
        if BYTE_OFFSET <= i < FIRST_SYMBOL:
            text = utf8.decode(bytes([i - BYTE_OFFSET]))
        else:
            text = utf8.decode(b"", final=True) + tok.decode([i])
            utf8.reset()
        if text:
            out.write(text)
            out.flush()
    out.write(utf8.decode(b"", final=True) + "\n")
    out.flush()
    return 0
