"""The only Keras package: network, losses, data pipeline, training, predictor.

Importing it imports Keras, quietly (``model.framework_logs``): any module below
pulls the framework in through here, so no console ever shows TensorFlow's start-up lines
unless ``--verbose``/``--debug`` asked for them.
"""

from model.framework_logs import import_frameworks

import_frameworks()
