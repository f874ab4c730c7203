"""The pixel pendulum of the paper's Task 5 (Section 5): frames of gymnasium's ``Pendulum-v1``, and models of them.

Modules, from the lowest up (each imports only those above it):

- :mod:`hnnlib.pixel.gym`: the environment's constants, angle conventions, update rule and energy.
- :mod:`hnnlib.pixel.render`: 28x28 frames drawn by the environment's own renderer.
- :mod:`hnnlib.pixel.estimate`: the state of a frame, or of a frame pair, read back from its pixels.
- :mod:`hnnlib.pixel.dataset`: the seeded, optionally cached dataset of stacked frame pairs.
- :mod:`hnnlib.pixel.models`: the autoencoder with an HNN (or a baseline) in its latent space, its
  loss and training, latent rollouts.
- :mod:`hnnlib.pixel.metrics`: latent probes and the energy along latent rollouts, read from pixels.

Every public name of these modules is also importable from :mod:`hnnlib.pixel`.
"""

from .dataset import (
    EXTRA_FRAMES,
    FORMAT_VERSION,
    DatasetCacheWarning,
    PixelPendulumData,
    PixelSplit,
    make_pixel_pendulum_dataset,
)
from .estimate import estimate_angles, estimate_states_from_pixels, frame_pair_states
from .gym import (
    DT,
    GRAVITY,
    GRAVITY_TERM,
    LENGTH,
    MASS,
    MAX_SPEED,
    gym_pendulum_energy,
    gym_pendulum_states,
    phi_to_theta,
    theta_to_phi,
    wrap_angle,
)
from .metrics import PixelEnergyComparison, compare_pixel_rollouts, latent_probe, states_along_rollout
from .models import (
    DYNAMICS_LOSS_WEIGHT,
    MLPAutoencoder,
    PixelDynamicsModel,
    PixelLosses,
    evaluate_pixel_loss,
    fit_pixel_model,
    flush_denormals,
    lit_pixels,
    pixel_loss,
    rollout_latent,
)
from .render import CROP, CROP_MAX_ANGLE, GYM_SCREEN_DIM, LUMA, ROD_RGB, SCREEN_DIM, VIEW_BOUND, pixel_coordinates, render_states

__all__ = [
    "CROP", "CROP_MAX_ANGLE", "DT", "DYNAMICS_LOSS_WEIGHT", "DatasetCacheWarning", "EXTRA_FRAMES", "FORMAT_VERSION",
    "GRAVITY", "GRAVITY_TERM", "GYM_SCREEN_DIM", "LENGTH", "LUMA", "MASS", "MAX_SPEED", "MLPAutoencoder",
    "PixelDynamicsModel", "PixelEnergyComparison", "PixelLosses", "PixelPendulumData", "PixelSplit", "ROD_RGB",
    "SCREEN_DIM", "VIEW_BOUND", "compare_pixel_rollouts", "estimate_angles", "estimate_states_from_pixels",
    "evaluate_pixel_loss", "fit_pixel_model", "flush_denormals", "frame_pair_states", "gym_pendulum_energy",
    "gym_pendulum_states", "latent_probe", "make_pixel_pendulum_dataset", "phi_to_theta", "pixel_coordinates",
    "pixel_loss", "render_states", "rollout_latent", "states_along_rollout", "theta_to_phi", "wrap_angle",
]
