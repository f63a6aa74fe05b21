"""Training precision choices, named without importing Keras (the CLI lists them)."""

from __future__ import annotations

# float32: exact; bfloat16: mixed_bfloat16, the CPU choice on AVX-512 BF16 / AMX;
# float16: mixed_float16, for GPUs (slower than float32 on a CPU).
PRECISIONS = ("float32", "bfloat16", "float16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
