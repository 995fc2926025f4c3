"""Section 1.2, recurrent networks: the sequential bottleneck and a parallel-scan recurrence that
removes it (C20, beyond the chapter).
"""
