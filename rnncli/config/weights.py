"""Reading a layer's `weights:` file: an `.npz` written with `np.savez(path, *arrays)`, or a Keras 1 `.h5`
(`save_weights()` or `model.save()`; the layer group with the layer's name, or the file's only layer with weights).
Which lists each layer accepts, and their conversion, is ``rnncli.config.weight_layouts``.
"""

from __future__ import annotations


def read_weight_arrays(path: str, layer_names: tuple[str, ...] = ()) -> list:
    """The arrays of a weights `.npz` in `np.savez(path, *arrays)` order (arr_0, arr_1, ...), or of the layer
    group called one of ``layer_names`` in a Keras 1 `.h5` (by position in its `weight_names`)."""
    import zipfile

    import numpy as np

    from rnncli.config.keras_weights import read_layer_weights
    from rnncli.documents.keras_hdf5 import Keras1FileError, is_hdf5

    if is_hdf5(path):
        try:
            return read_layer_weights(path, layer_names)
        except Keras1FileError as exc:
            raise ValueError(str(exc).removeprefix(f"{path}: ")) from None
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if all(n.startswith("arr_") and n[4:].isdigit() for n in names):
                names.sort(key=lambda n: int(n[4:]))
            return [np.asarray(archive[n], dtype=np.float32) for n in names]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"cannot read {path} as an .npz of float arrays ({exc})") from None
