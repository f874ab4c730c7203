"""A small pixel pendulum dataset for the tests of hnnlib.pixel."""

from hnnlib.pixel import dataset

SIDE = 28
P = SIDE * SIDE


def small(**kwargs):
    """A small dataset: 5 trajectories (4 train, 1 test) of 10 samples (13 frames)."""
    args = dict(n_trajectories=5, n_frames=10, seed=0, progress=False)
    args.update(kwargs)
    return dataset.make_pixel_pendulum_dataset(**args)
