"""Bring Keras 1 models into rnncli: HDF5 weights and full-model files, architecture documents, ``rnncli import``."""
