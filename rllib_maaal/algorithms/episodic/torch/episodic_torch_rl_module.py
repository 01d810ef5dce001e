"""What our episodic modules share: the acting path and the episode masks of a train batch."""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule

#: ``fwd_out`` keys of every episodic module: the real (unpadded) steps (B, T) and the step
#: that ends an episode by termination (B, T) (a time-limit truncation bootstraps).
VALID = "valid"
TERMINAL = "terminal"


def episode_masks(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """``VALID`` and ``TERMINAL`` (B, T) of a padded episode batch (``reward`` (B, T), ``length``
    and ``terminated`` (B,))."""
    length = batch["length"].unsqueeze(1)
    steps = torch.arange(batch["reward"].shape[1], device=length.device)
    last = steps == length - 1
    return {VALID: steps < length, TERMINAL: last & (batch["terminated"] > 0).unsqueeze(1)}


class EpisodicTorchRLModule(TorchRLModule, TargetNetworkAPI):
    """A ``TorchRLModule`` whose acting forward passes skip autograd and the train/eval walk.

    RLlib's EnvRunner calls ``forward_exploration`` once per vector step without ``no_grad``, and
    ``TorchRLModule`` toggles ``eval()``/``train()`` through every submodule around it; our
    networks have no dropout or batch norm, so the toggle changes nothing and costs ~7 % of
    sampling time, and the autograd graph of an acting pass is never used.

    ``_forward_train`` takes a padded episode batch (see
    :class:`~rllib_maaal.algorithms.episodic.episode_replay.EpisodeReplay`) and returns every
    tensor the learner's equations read (``VALID``, ``TERMINAL`` and the module's own keys):
    the learner calls no network itself, so that under ``num_learners > 1`` every parameter's
    gradient goes through DDP's forward and is averaged.
    """

    def forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        with torch.no_grad():
            return self._forward_exploration(batch, **kwargs)

    def forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        with torch.no_grad():
            return self._forward_inference(batch, **kwargs)
