"""The one place rltune imports TensorFlow, quietly.

Modules that need TensorFlow do ``from rltune._tf import tf``; the CLI imports
those modules inside its commands only, so ``rltune --help`` never pays for it.
"""
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")


def _import_quietly():
    # TensorFlow's C++ start-up lines (absl, oneDNN) go straight to fd 2, past
    # TF_CPP_MIN_LOG_LEVEL; hide fd 2 for the duration of the import only.
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        import tensorflow
        return tensorflow
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


tf = _import_quietly()


def use_one_thread_per_op() -> bool:
    """Run each kernel on one thread (ops still run in parallel with each other).

    On this 2-core machine the fused LSTM kernel of pretraining is about 1.7x
    faster so, and RL training 1.18x (29,633 against 25,136 env steps/s): their
    small matmuls lose more to thread hand-offs than they gain, while the
    inter-op pool still runs independent ops side by side. Only possible before
    TensorFlow runs its first op; returns whether it took."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        return True
    except RuntimeError:
        return False
