"""What the commands do, as library functions: one module per verb (train; predict and evaluate; states; export).

Each reads like the pipeline: config -> model -> data -> train or infer -> run directory. They raise
``RnncliError``s for every user-facing failure and return plain data; ``rnncli.cli.main`` parses options, prints and
chooses exit codes.
"""
