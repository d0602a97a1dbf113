"""Training: one model per musical role.

    chords.py    chord detection per bar (numpy only; the importer uses it)
    config.py    the training configuration, validated from style.training + overrides
    harmony.py   variable-order Markov chord model with backoff, as a torch module
    sequence.py  GRU next-token model for melody and bass
    drums.py     conditional GAN (generator + critic) for drum bars

This package's __init__ imports nothing, so the torch-free chord detector can be
used without loading torch.
"""
