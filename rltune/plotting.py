"""Figures: note-probability heat maps and reward curves (matplotlib, Agg)."""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_note_probabilities(probs, path, title: str = "", class_layout: str = "0 hold, 1 rest, 2.. MIDI 48.."):
    """The original's ``visualize_probs``: the model's classes x time, darker = likelier."""
    plt = _plt()
    probs = np.asarray(probs)
    fig, ax = plt.subplots(figsize=(max(6, probs.shape[0] / 12), 4))
    ax.imshow(probs.T, interpolation="none", cmap="Reds", aspect="auto", origin="lower")
    ax.set_ylabel(f"Class ({class_layout})", fontsize=8)
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


def plot_frontier(results: list, reference: dict, front: list, path):
    """Mean log p per note (y) against mean music-theory reward per composition (x), one point per
    trial coloured by algorithm, the Note RNN as a reference, the Pareto front drawn and labelled."""
    from rltune.outputs import atomic_write_bytes
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 6))
    colors = {"q": "tab:blue", "psi": "tab:orange", "g": "tab:green", "rl-only": "tab:red"}
    for algo in sorted({r["algo"] for r in results}):
        mine = [r for r in results if r["algo"] == algo]
        for rules, marker in (("paper", "s"), ("corrected", "o")):
            sel = [r for r in mine if r["rules"] == rules]
            if sel:
                ax.scatter([r["rows"]["mean_music_theory_reward"] for r in sel], [r["rows"]["mean_log_p"] for r in sel],
                           c=colors.get(algo, "gray"), marker=marker, label=f"{algo}, rules {rules}", alpha=0.8)
    on_front = sorted((r for r in results if r["id"] in front), key=lambda r: r["rows"]["mean_music_theory_reward"])
    if on_front:
        ax.plot([r["rows"]["mean_music_theory_reward"] for r in on_front], [r["rows"]["mean_log_p"] for r in on_front],
                color="black", lw=1, ls="--", label="Pareto front")
        shared = set.intersection(*(set(r["id"].split("_")) for r in on_front)) if len(on_front) > 1 else set()
        for r in on_front:
            label = "_".join(part for part in r["id"].split("_") if part not in shared)
            ax.annotate(label, (r["rows"]["mean_music_theory_reward"], r["rows"]["mean_log_p"]), fontsize=7,
                        xytext=(4, 2), textcoords="offset points")
    ref = reference["rows"]
    xs = [r["rows"]["mean_music_theory_reward"] for r in results] or [ref["mean_music_theory_reward"]]
    span = max(max(xs) - min(xs), 1.0)
    lo = min(xs) - 0.15 * span
    if ref["mean_music_theory_reward"] < lo - 0.5 * span:  # far off to the left: mark it at the edge
        ax.scatter([lo], [ref["mean_log_p"]], c="black", marker="*", s=160, label="Note RNN")
        ax.annotate(f"\u2190 Note RNN (r_MT {ref['mean_music_theory_reward']:.0f})", (lo, ref["mean_log_p"]),
                    fontsize=8, xytext=(8, -3), textcoords="offset points")
        ax.set_xlim(lo - 0.05 * span, max(xs) + 0.25 * span)
    else:
        ax.scatter([ref["mean_music_theory_reward"]], [ref["mean_log_p"]], c="black", marker="*", s=160, label="Note RNN")
    ax.set_xlabel("Mean music-theory reward per composition (the trial's rules)")
    ax.set_ylabel("Mean log p(a|s) per note under the Reward RNN")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    atomic_write_bytes(path, _png(plt, fig))
