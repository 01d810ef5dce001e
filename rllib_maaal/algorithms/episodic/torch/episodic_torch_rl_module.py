"""The acting path our episodic modules share."""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule


class EpisodicTorchRLModule(TorchRLModule, TargetNetworkAPI):
    """A ``TorchRLModule`` whose acting forward passes skip autograd and the train/eval walk.

    RLlib's EnvRunner calls ``forward_exploration`` once per vector step without ``no_grad``, and
    ``TorchRLModule`` toggles ``eval()``/``train()`` through every submodule around it; our
    networks have no dropout or batch norm, so the toggle changes nothing and costs ~7 % of
    sampling time, and the autograd graph of an acting pass is never used.
    """

    def forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        with torch.no_grad():
            return self._forward_exploration(batch, **kwargs)

    def forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        with torch.no_grad():
            return self._forward_inference(batch, **kwargs)
