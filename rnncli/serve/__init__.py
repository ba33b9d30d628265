"""``rnncli serve``: an HTTP model server that keeps one state per stream and batches streams into one compiled step.

Modules, in the order a request meets them: ``app`` (routes, auth, limits, errors), ``inputs`` (JSON bodies to
checked arrays), ``batcher`` (groups waiting chunks into batches, one per stream at a time), ``store`` (the states
of every stream, eviction, persistence under ``--state-dir``), ``runner`` (the run's weights and the compiled step
that takes states as inputs), ``metrics`` (Prometheus), ``server`` (socket, uvicorn, signals).
"""
