"""Silence TensorFlow and Keras before they are imported.

nbgrader scores a test cell zero if it writes anything to stderr, and TensorFlow's
C++ runtime, absl and Keras all log there.  Importing :mod:`dlcourse` first (every
notebook's first cell does) sets the switches that must be in place *before*
``import tensorflow``.
"""
import logging
import os
import warnings

# Must be set before TensorFlow's C++ runtime loads: 3 hides INFO, WARNING and ERROR logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TF 2.21 prints a oneDNN notice at import that ignores the level above (measured);
# the plain Eigen kernels are silent, as fast for the course's small models, and
# bit-for-bit repeatable.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# The Keras backend is part of the course's contract: TensorFlow on CPU and GPU alike.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Keep a GPU from grabbing all its memory at start: a hub pod may share it.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


def silence_python_loggers():
    """Quiet the Python-side loggers and warnings that TensorFlow and Keras use."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", module=r"keras(\..*)?")
    warnings.filterwarnings("ignore", module=r"tensorflow(\..*)?")
    for name in ("tensorflow", "absl", "keras", "h5py", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # absl comes with TensorFlow; without it there is nothing to quiet
        pass
