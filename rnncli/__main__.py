"""``python -m rnncli``: the same command line as the ``rnncli`` script."""

from rnncli.cli import main

main(prog_name="rnncli")
