"""`python -m koppel` runs the command line."""

from koppel.cli.app import main

main()
