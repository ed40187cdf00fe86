"""Figures: note-probability heat maps and reward curves (matplotlib, Agg)."""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_note_probabilities(probs, path, title: str = ""):
    """The original's ``visualize_probs``: classes x time, darker = likelier."""
    plt = _plt()
    probs = np.asarray(probs)
    fig, ax = plt.subplots(figsize=(max(6, probs.shape[0] / 12), 4))
    ax.imshow(probs.T, interpolation="none", cmap="Reds", aspect="auto", origin="lower")
    ax.set_ylabel("Event (0 hold, 1 rest, 2.. MIDI 48..)")
    ax.set_xlabel("Time (16th-note steps)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save(plt, fig, path)


def plot_rewards(history: dict, path, title: str = ""):
    """Mean log p and mean music-theory reward per composition against training steps
    (the paper's Figure 2 style), from the periodic evaluations of a run."""
    from rltune.outputs import atomic_write_bytes
    atomic_write_bytes(path, reward_curves_png(history, title))


def reward_curves_png(history: dict, title: str = "", dpi: int = 100) -> bytes:
    """The reward curves of :func:`plot_rewards` as PNG bytes."""
    plt = _plt()
    steps = np.asarray(history.get("step", []))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot(steps, history.get("mean_log_p", []), color="tab:blue")
    axes[0].set_title("Reward RNN: mean log p(a|s) per composition")
    axes[1].plot(steps, history.get("mean_music_theory_reward", []), color="tab:orange")
    axes[1].set_title("Music theory reward per composition")
    for ax in axes:
        ax.set_xlabel("Training steps (environment steps)")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _png(plt, fig, dpi)


def _png(plt, fig, dpi: int = 100) -> bytes:
    import io
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    return buf.getvalue()


def _save(plt, fig, path):
    """PNG bytes written atomically, with the same file mode as every other output."""
    from rltune.outputs import atomic_write_bytes
    atomic_write_bytes(path, _png(plt, fig))
