"""Section 1.4, LSTMs and GRUs: long dependencies (C4), the forget-gate bias (C7), GRU vs LSTM cost
(C10).
"""
