"""fas_core: the shared core of the face anti-spoofing toolkit.

Everything two method folders would otherwise write twice lives here: config loading, file
layout and IO, face cropping, metrics, losses, layers, checkpoints, the training engine and
the preprocessing stage runner. This package imports no method folder.
"""

__version__ = "0.1.0"
