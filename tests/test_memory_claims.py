"""The Transformer task backbone (``seqlab.build``, arch "transformer") and the memory claims
C4 (long dependencies), C7 (forget-gate bias), C25 (Transformers on long dependencies):
causality by construction, the rules on hand-made numbers, tiny runs."""

import pytest
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import from_dict
from seqlab.data.tasks import AddingProblem, CopyMemory
from seqlab.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


# ---------------------------------------------------------------- the Transformer backbone

def _transformer(bidirectional=False, layers=2, task=None):
    torch.manual_seed(0)
    spec = ModelConfig(arch="transformer", hidden_size=16, num_layers=layers, heads=2, embed_dim=8,
                       bidirectional=bidirectional)
    return build_model(spec, task or CopyMemory(delay=6, num_symbols=2, alphabet=4)).eval()


def test_transformer_shapes_tokens_and_features():
    model = _transformer()
    x = torch.randint(0, 6, (3, 10))
    out, state = model(x)
    assert out.shape == (3, 10, 6) and state is None
    model = _transformer(task=AddingProblem(12))
    out, _ = model(torch.rand(2, 12, 2))
    assert out.shape == (2, 12, 1)
    assert _transformer(bidirectional=True).head.in_features == 16  # d_model, not 2 x d_model


def test_causal_transformer_output_before_t_ignores_x_t():
    model = _transformer()
    x = torch.randint(0, 6, (2, 10))
    changed = x.clone()
    changed[:, 6] = (x[:, 6] + 1) % 6  # a different token at t = 6 only
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(changed)
    assert torch.equal(a[:, :6], b[:, :6])  # steps 0..5 never see step 6
    assert (a[:, 6:] - b[:, 6:]).abs().amax() > 1e-4  # step 6 and later do


def test_bidirectional_transformer_sees_the_future():
    model = _transformer(bidirectional=True)
    x = torch.randint(0, 6, (2, 10))
    changed = x.clone()
    changed[:, 9] = (x[:, 9] + 1) % 6  # only the last token differs
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(changed)
    assert (a[:, 0] - b[:, 0]).abs().amax() > 1e-4  # step 0 reads the last step


def test_bidirectional_transformer_masks_right_padding():
    model = _transformer(bidirectional=True)
    x = torch.randint(0, 6, (2, 10))
    padded = x.clone()
    padded[:, 7:] = 0  # different content in the padding
    lengths = torch.tensor([7, 7])
    with torch.no_grad():
        a, _ = model(x, lengths=lengths)
        b, _ = model(padded, lengths=lengths)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6)


def test_transformer_config_is_validated():
    with pytest.raises(ConfigError, match="not divisible by heads 4"):
        ModelConfig(arch="transformer", hidden_size=30)
    with pytest.raises(ConfigError, match="'heads' applies to arch 'transformer' only"):
        ModelConfig(arch="lstm", heads=2)
    with pytest.raises(ConfigError, match="no hidden-to-hidden matrix"):
        ModelConfig(arch="transformer", init="orthogonal")
    cfg = from_dict(ModelConfig, {"arch": "transformer", "hidden_size": 24, "heads": 3, "num_layers": 2})
    assert cfg.num_heads == 3 and ModelConfig(arch="transformer", hidden_size=32).num_heads == 4
    model = build_model(cfg, CopyMemory(delay=4, num_symbols=2, alphabet=4))
    assert len(model.backbone.layers) == 2 and model.backbone.layers[0].attn.heads == 3
