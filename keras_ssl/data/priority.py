"""An input pipeline that yields the cores to the train step: its own threads, at low priority.

On a CPU the views are made on the cores the train step uses. By default tf.data's ops share
TensorFlow's thread pool with the step, and the step's ops queue behind them. `background_options`
gives the pipeline a private pool of one thread per core (each op on one thread), and
`after_yielding_cores` makes each of those threads lower its own Linux scheduling priority
(niceness 19) the first time it runs: the OS gives the step precedence and runs the pipeline when
a core would idle (between the step's ops) or when the step waits for a batch. Elsewhere than on
Linux threads keep their priority (there niceness is per process).
"""

import os
import sys
import threading

import numpy as np
import tensorflow as tf

BACKGROUND_NICENESS = 19


def background_options(options=None):
    """`options` (a new `tf.data.Options` by default) with a private pool of one thread per core
    and single-threaded ops, so that the pipeline's work runs on threads of its own."""
    options = options or tf.data.Options()
    options.threading.private_threadpool_size = os.cpu_count() or 1
    options.threading.max_intra_op_parallelism = 1
    return options


def _lower_this_threads_priority():
    if sys.platform.startswith("linux"):
        # On Linux PRIO_PROCESS with a thread id sets that thread alone. Raising it back is not
        # allowed without privileges, so only threads that run the pipeline ever get here.
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < BACKGROUND_NICENESS:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICENESS)
    return np.bool_(True)


def after_yielding_cores(tensor):
    """`tensor`, passed on once the thread running this lowered its priority (in a tf.data map
    function under `background_options`, that thread is one of the pipeline's own)."""
    done = tf.numpy_function(_lower_this_threads_priority, [], tf.bool, stateful=True)
    with tf.control_dependencies([done]):
        return tf.identity(tensor)
