"""The SHA-256 of a file's bytes, read in chunks: how a model file is identified (export
resume, the OpenVINO cache) whatever its name or time stamp."""

from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
