"""Section 1.3, vanishing and exploding gradients: decay with distance (C1), the s^T table (C2),
tanh saturation (C3), clipping (C5), orthogonal init (C6), truncated BPTT (C8, C27), residuals
(C23), Xavier vs orthogonal (C24), Transformers on long dependencies (C25), the symptom table (C26).
"""
