"""Reading documents, below everything that interprets them (pure Python and h5py; no TensorFlow, no configs):
``yaml_loader`` (YAML with the line and column of every value, for FILE:LINE:COL errors), ``keras_architecture``
(Keras 1 ``to_json()``/``to_yaml()`` documents: the layer list, training settings, refusals), ``keras2`` (Keras 2
vocabulary mapped onto Keras 1's) and ``keras_hdf5`` (the groups and attributes of Keras ``.h5`` files)."""
