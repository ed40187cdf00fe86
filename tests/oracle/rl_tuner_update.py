"""One DQN update by Magenta 2.1.4's own RL Tuner graph (run under the Magenta oracle venv).

Usage: python rl_tuner_update.py IN.npz OUT.npz
IN holds the algorithm ("q", "psi" or "g"), the Note RNN checkpoint folder and
file (RL Tuner paper format), and one minibatch: observations, Q states,
actions, rewards, next observations, next Q states and next Reward RNN states
(event indices and flat [c, h] states). The script builds
``magenta.models.rl_tuner.rl_tuner.RLTuner`` with rl_tuner_train.py's DQN
hparams, feeds the minibatch exactly as ``RLTuner.training_step`` does, and
writes the TD targets and the loss before the step, then runs one ``train_op``
(Adam, gradients clipped to 5 each) and one ``target_network_update``, and
writes every variable of the three networks afterwards as ``after:SCOPE/NAME``
(and ``before:SCOPE/NAME``). Nothing here is rltune's code.
"""
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()
tf.logging.set_verbosity(tf.logging.ERROR)

from magenta.models.rl_tuner import rl_tuner  # noqa: E402
from magenta.contrib import training as contrib_training  # noqa: E402


def main(inp, out):
    d = np.load(inp)
    algorithm = str(d["algorithm"])
    dqn_hparams = contrib_training.HParams(  # rl_tuner_train.py's
        random_action_probability=0.1, store_every_nth=1, train_every_nth=5, minibatch_size=32,
        discount_rate=0.5, max_experience=100000, target_network_update_rate=0.01)
    rlt = rl_tuner.RLTuner(tempfile.mkdtemp(), dqn_hparams=dqn_hparams, reward_scaler=0.1,
                           note_rnn_checkpoint_dir=str(d["checkpoint_dir"]),
                           note_rnn_checkpoint_file=str(d["checkpoint_file"]), algorithm=algorithm)
    n, A = len(d["actions"]), rlt.num_actions
    onehot = lambda idx: np.eye(A)[idx].reshape(n, 1, A)  # noqa: E731
    lengths = np.ones(n, dtype=int)
    feed = {rlt.q_network.melody_sequence: onehot(d["observations"]),
            rlt.q_network.initial_state: d["states"], rlt.q_network.lengths: lengths,
            rlt.target_q_network.melody_sequence: onehot(d["next_observations"]),
            rlt.target_q_network.initial_state: d["next_states"], rlt.target_q_network.lengths: lengths,
            rlt.action_mask: np.eye(A)[d["actions"]], rlt.rewards: d["rewards"]}
    if algorithm == "g":  # as training_step feeds G
        feed.update({rlt.reward_rnn.melody_sequence: onehot(d["next_observations"]),
                     rlt.reward_rnn.initial_state: d["reward_next_states"], rlt.reward_rnn.lengths: lengths})
    with rlt.graph.as_default():
        variables = {v.name.split(":")[0]: v for v in tf.global_variables()
                     if v.name.split("/")[0] in ("q_network", "target_q_network", "reward_rnn") and "Adam" not in v.name}
        trainable = sorted(v.name.split(":")[0] for v in tf.trainable_variables())
    result = {"trainable": np.array(trainable)}
    result.update({f"before:{k}": v for k, v in rlt.session.run(variables).items()})
    loss, targets = rlt.session.run([rlt.prediction_error, rlt.target_vals], feed)
    rlt.session.run(rlt.train_op, feed)
    rlt.session.run(rlt.target_network_update)
    result.update({f"after:{k}": v for k, v in rlt.session.run(variables).items()})
    result.update(loss=loss, target_vals=targets, future_rewards=d["rewards"] + 0.5 * targets)
    np.savez(out, **result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
