"""Writing outputs without leaving half-written files behind."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from rltune.errors import RLTuneError


@contextlib.contextmanager
def staged_dir(output_dir):
    """Yield a temporary folder next to ``output_dir``; on success move its files in.

    On any error the temporary folder is removed and ``output_dir`` is left as
    it was (files already there are kept, new ones never half-written).
    """
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RLTuneError(f"cannot create output folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK):
        raise RLTuneError(f"cannot write to output folder {out}: permission denied")
    tmp = Path(tempfile.mkdtemp(prefix=".rltune-", dir=out))
    try:
        yield tmp
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
