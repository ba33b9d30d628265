"""Data: the arrays a model trains on and predicts from. ``dataset`` (files to a checked ``Dataset``: npy, npz, CSV,
text corpora; splits and batching), ``sets`` (the sets a config or a command line names: training, evaluation,
``predict``'s input), ``outputs`` (what ``predict`` writes), ``weighting`` (sample and class weights), ``examples``
(decoding the example tasks). Shape rules decided from file headers alone live in ``rnncli.config.data_shapes``,
so that ``validate`` needs nothing from here."""
