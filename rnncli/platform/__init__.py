"""The TensorFlow process: quiet start-up and signals (``runtime``, ``tf_env``, ``native_logs``), the persistent XLA
compilation cache, devices, distribution strategies, and ``doctor``'s report. Everything above imports TensorFlow
through here; nothing here knows configs, models or data."""
