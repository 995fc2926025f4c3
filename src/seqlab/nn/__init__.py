"""Neural network modules: cells, recurrent layers, attention, encoder-decoders."""

from seqlab.nn.sequence import SequenceModel

__all__ = ["SequenceModel"]
