"""The only Keras package: network, losses, data pipeline, training, predictor.

Importing it does not import Keras: its modules take Keras from ``model.nn.frameworks``,
which imports it quietly (``model.framework_logs``) the first time one of them needs it,
so no console ever shows TensorFlow's start-up lines unless ``--verbose``/``--debug``
asked for them. The inference path (``predictor``, ``engines``, ``openvino_engine`` and the
network's geometry in ``network``) loads without it, so the OpenVINO engine never pays
for TensorFlow's import; the Keras engine imports it when it loads a model.
"""
