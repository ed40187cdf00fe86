"""Adam with gradient clipping and a plain, checkpointable state.

Written out (a dozen lines) rather than taken from Keras so that its state
saves into rltune's npz checkpoints and restores exactly. Defaults are TF1's
``AdamOptimizer`` (lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8), which the
original RL Tuner and Magenta use.
"""
from __future__ import annotations

import numpy as np

from rltune._tf import tf


class Adam(tf.Module):
    def __init__(self, variables, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 clip_norm: float | None = 5.0, clip: str = "each", name="adam"):
        """``clip="each"`` clips every gradient to ``clip_norm`` (the RL Tuner's
        ``tf.clip_by_norm`` per variable); ``clip="global"`` clips their global
        norm (Magenta's ``create_train_op(clip_gradient_norm=...)``)."""
        super().__init__(name=name)
        self.vars = list(variables)
        self.lr, self.b1, self.b2, self.eps = learning_rate, beta1, beta2, epsilon
        self.clip_norm, self.clip = clip_norm, clip
        with self.name_scope:
            self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.vars]
            self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.vars]
            self.t = tf.Variable(0.0, trainable=False)

    def apply(self, grads):
        if self.clip_norm:
            if self.clip == "global":
                grads, _ = tf.clip_by_global_norm(grads, self.clip_norm)
            else:
                grads = [tf.clip_by_norm(g, self.clip_norm) for g in grads]
        t = self.t.assign_add(1.0)
        b1_power, b2_power = self.b1 ** t, self.b2 ** t
        for var, g, m, v in zip(self.vars, grads, self.m, self.v):
            # TF1 AdamOptimizer's own fused kernel: m, v and the variable in one op
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=b1_power,
                                         beta2_power=b2_power, lr=self.lr, beta1=self.b1, beta2=self.b2,
                                         epsilon=self.eps, grad=tf.convert_to_tensor(g))

    def state(self, prefix="opt") -> dict[str, np.ndarray]:
        out = {f"{prefix}/t": np.array(self.t.numpy())}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            out[f"{prefix}/m_{i}"] = m.numpy()
            out[f"{prefix}/v_{i}"] = v.numpy()
        return out

    def load_state(self, arrays, prefix="opt"):
        if f"{prefix}/t" not in arrays:
            return
        self.t.assign(float(arrays[f"{prefix}/t"]))
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            m.assign(arrays[f"{prefix}/m_{i}"])
            v.assign(arrays[f"{prefix}/v_{i}"])
