"""facegate's training side: data preparation, losses, the training loop, evaluation, export.

``training`` may import ``models``; ``service`` never imports ``training``.
"""
