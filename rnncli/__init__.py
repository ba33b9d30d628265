"""rnncli: a declarative trainer for Keras 1 style recurrent networks, built on TensorFlow ``tf.Module`` layers."""

__version__ = "0.1.0"
