"""``python -m training prepare ...``: the training side's command line (see ``training.cli``)."""

from training.cli import main

main()
