"""Section 1.8, the stage is set: the hardware reality, sequential steps and GPU utilisation (C16).
"""
