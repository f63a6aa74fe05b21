"""Headless core of carvana-gui: data layout, masks, RLE, Dice, network, training, CLI.

Never imports Qt. Pure-array modules never import keras/tensorflow.
"""
