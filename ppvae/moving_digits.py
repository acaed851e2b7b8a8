"""Moving digits: an embedded, seeded sequence dataset built from scikit-learn's 8x8 digits.

Each sequence shows one digit moving in straight lines on a 16x16 canvas and bouncing off
the walls: frames of 256 pixels, ``steps`` frames (10 by default).  Everything is
generated from a seed, so the data are the same on every machine and nothing is
downloaded.  The dynamics are exactly what a Markov prior over z_t can learn and an
i.i.d. prior cannot.
"""

from __future__ import annotations

import numpy as np

from ppvae.errors import UserInputError

CANVAS = 16
DIGIT = 8


def moving_digits(num: int = 3000, steps: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sequences (num, steps, 1, 16, 16) of grey levels in [0, 1], and each one's digit.

    Example:
        >>> x, y = moving_digits(num=4, steps=6)
        >>> x.shape, y.shape, float(x.max()) <= 1.0
        ((4, 6, 1, 16, 16), (4,), True)
        >>> bool((moving_digits(4, 6)[0] == x).all())  # the same seed, the same data
        True
    """
    if num < 1 or steps < 2:
        raise UserInputError(f"moving digits need num >= 1 and steps >= 2, got {num}, {steps}")
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(digits.images), size=num)
    images = (digits.images[pick] / 16.0).astype(np.float32)
    room = CANVAS - DIGIT
    pos = rng.integers(0, room + 1, size=(num, 2))
    vel = rng.choice([-2, -1, 1, 2], size=(num, 2))
    x = np.zeros((num, steps, 1, CANVAS, CANVAS), dtype=np.float32)
    for t in range(steps):
        for i in range(num):
            r, c = pos[i]
            x[i, t, 0, r : r + DIGIT, c : c + DIGIT] = images[i]
        pos, vel = _bounce(pos + vel, vel, room)
    return x, digits.target[pick]


def _bounce(pos: np.ndarray, vel: np.ndarray, room: int) -> tuple[np.ndarray, np.ndarray]:
    """Reflect positions that left [0, room] back inside and reverse their velocity."""
    low, high = pos < 0, pos > room
    pos = np.where(low, -pos, np.where(high, 2 * room - pos, pos))
    vel = np.where(low | high, -vel, vel)
    return pos, vel
