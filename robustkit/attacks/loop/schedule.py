"""How many steps run and how: unrolled chunks inside a while loop over chunks.

A while-loop iteration costs noticeably more than straight-line graph code (about 20% of a small
CNN's forward+backward pass on CPU), while unrolling everything would make compile time grow
with the step count: steps are unrolled ``UNROLL`` at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

UNROLL = 10


def run_steps(
    advance: Callable[[Any, int], Any], state: Any, steps: int, still_active: Callable[[Any], tf.Tensor] | None = None
) -> Any:
    """``steps`` steps, ``advance(state, n)`` taking ``n`` of them at a time.

    With ``still_active`` the loop over chunks stops once it returns all-False (early stopping).
    """
    chunks, remainder = divmod(steps, UNROLL)
    if chunks == 1:  # a loop of one iteration would only add control-flow work
        state = advance(state, UNROLL)
    elif chunks:

        def more(i, state):
            return tf.logical_and(i < chunks, tf.reduce_any(still_active(state))) if still_active else i < chunks

        state = tf.while_loop(
            more, lambda i, state: (i + 1, advance(state, UNROLL)), (tf.constant(0), state), parallel_iterations=1
        )[1]
    return advance(state, remainder) if remainder else state
