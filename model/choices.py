"""Choices the CLI and the window list without importing Keras (which takes seconds)."""

from __future__ import annotations

# Training precision. auto (the default): bfloat16 on a CPU with AMX
# (Intel Xeon 4th gen and later), else float32 (model.nn.backend.resolve_precision); float32: exact;
# bfloat16: mixed_bfloat16; float16: mixed_float16, for GPUs (slower than float32 on a CPU).
AUTO_PRECISION = "auto"  # resolved per machine by model.nn.backend.resolve_precision
PRECISIONS = (AUTO_PRECISION, "float32", "bfloat16", "float16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}

# Inference engine (model.nn.engines): auto picks OpenVINO on a CPU where it is installed.
ENGINE_CHOICES = ("auto", "keras", "openvino")
# Set to keras or openvino to override `auto` everywhere (the window has no engine menu).
ENGINE_ENV = "CARVANA_ENGINE"
