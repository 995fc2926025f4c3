"""The chapter's hands-on drills: a two-step RNN (D1), clipping curves (D2), a tiny Bahdanau
attention (D3).
"""
