"""``python -m justo.cli``."""

from justo.cli import main

main()
