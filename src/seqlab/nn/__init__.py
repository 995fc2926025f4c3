"""Neural network modules: cells, recurrent layers, attention, encoder-decoders."""

from seqlab.nn.cells import GRUCell, LSTMCell, RNNCell
from seqlab.nn.recurrent import GRU, LSTM, RNN
from seqlab.nn.scan import MinGRU, MinLSTM
from seqlab.nn.sequence import SequenceModel
from seqlab.nn.attention import AdditiveAttention, DotAttention, GeneralAttention
from seqlab.nn.seq2seq import EncoderDecoder, Memory, Seq2Seq, sequence_loss
from seqlab.nn.bahdanau import Bahdanau
from seqlab.nn.luong import Luong
from seqlab.nn.transformer import MultiHeadAttention, Transformer, TransformerLM
from seqlab.nn.conv import ConvS2S, DilatedCausalConv

__all__ = [
    "AdditiveAttention", "Bahdanau", "ConvS2S", "DilatedCausalConv", "DotAttention", "EncoderDecoder",
    "GeneralAttention", "Luong", "Memory", "MultiHeadAttention", "Seq2Seq", "Transformer", "TransformerLM",
    "sequence_loss",
    "GRU", "GRUCell", "LSTM", "LSTMCell", "MinGRU", "MinLSTM", "RNN", "RNNCell", "SequenceModel",
]
