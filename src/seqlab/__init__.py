"""seqlab: the classic sequence models, from the vanilla RNN to the Transformer.

Every architecture behind one PyTorch interface, trained on real data, and every
claim about them turned into an experiment with a verdict.
"""

__version__ = "0.1.0"
