"""``python -m rnncli``: the same command line as the ``rnncli`` script."""

from rnncli.cli.main import main

if __name__ == "__main__":  # importing the module (doctest collection, tools) runs nothing
    main(prog_name="rnncli")
