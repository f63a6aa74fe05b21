"""Keras for the modules of model.nn, imported quietly on first use.

Importing ``model.nn`` does not import Keras: the OpenVINO engine runs a converted model
without it, so ``carvana export``/``predict`` on that engine start without TensorFlow's
import (7-10 s on a 2-core CPU). Every module here that needs Keras takes it from this
module, which imports it through ``model.framework_logs`` (no start-up chatter on the
console unless ``--verbose``), whichever module asks first.
"""

from model.framework_logs import import_frameworks

import_frameworks()

import keras  # noqa: E402  (after the quiet set-up above)
from keras import layers, ops  # noqa: E402

__all__ = ["keras", "layers", "ops"]
