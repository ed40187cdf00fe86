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
    out = ensure_writable_dir(output_dir)
    tmp = Path(tempfile.mkdtemp(prefix=".rltune-", dir=out))
    try:
        yield tmp
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path, data: bytes):
    path = Path(path)
    check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def file_mode() -> int:
    """The mode of every file rltune writes: 0666 less the umask (0644 usually), as ``open`` would give."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def ensure_writable_dir(folder) -> Path:
    """Create ``folder`` if needed; fail with one line when it cannot take files."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RLTuneError(f"cannot create folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise RLTuneError(f"cannot write to {folder}: permission denied")
    return folder


def check_writable(path):
    """Fail early, with one line, when ``path``'s folder cannot take a file."""
    ensure_writable_dir(Path(path).parent)


def on_sigterm_interrupt():
    """SIGTERM stops work as Ctrl-C does (KeyboardInterrupt), where signals can be handled: in the
    main thread (Ray Tune runs trials in other threads). Returns what :func:`restore_sigterm` needs."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, signal.default_int_handler)


def restore_sigterm(previous):
    import signal
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
