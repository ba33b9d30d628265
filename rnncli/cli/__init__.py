"""The command line: Click commands (``main``: the ``rnncli`` group; ``run_commands``: the verbs on a run directory;
``serve``), their options (``common``, ``helpers``), and everything printed (``reporting``). Each verb's work is a
library function in ``rnncli.commands``; this package parses options, prints and picks exit codes."""
