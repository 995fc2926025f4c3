"""Section 1.7, the path to attention: soft alignments (C13), score functions (C14), local
attention (C15), dilated convolutions (C17, C29), the worked softmax (C21), 1/sqrt(d_k) (C22).
"""
