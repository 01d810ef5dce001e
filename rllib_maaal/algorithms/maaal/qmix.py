"""QMIX and VDN as registered algorithms (``run: QMIX``, ``run: VDN``): configurations of MAAAL.

With ``allocation="none"`` MAAAL has a single subtask, so its lower layer is exactly value
decomposition: a shared agent network (with the subtask network as its head), masked greedy
actions, and the QMIX hypernetwork mixer (Rashid et al., 2018) or the VDN sum (Sunehag et al.,
2018). These classes pin that configuration and take their defaults from the QMIX references
(pymarl2 / EPyMARL), so that ``run: QMIX`` on any team view (e.g. ``env: maaal/pettingzoo``)
needs no MAAAL knobs.

Example::

    from rllib_maaal.algorithms.maaal import QMIXConfig

    config = QMIXConfig().environment(
        "maaal/pettingzoo", env_config={"env": "mpe2.simple_spread_v3"}
    )
    algo = config.build_algo()
"""

from __future__ import annotations

from typing import Any, ClassVar

from rllib_maaal.algorithms.maaal.maaal import MAAAL, MAAALConfig


class QMIXConfig(MAAALConfig):
    """MAAAL with one subtask and the QMIX mixer; ``validate`` refuses other settings of the
    fields in ``PINNED`` (use ``run: MAAAL`` for those)."""

    #: The fields that make the algorithm what it is.
    PINNED: ClassVar[dict[str, Any]] = {"allocation": "none", "mixer": "qmix"}

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or QMIX)
        for name, value in self.PINNED.items():
            setattr(self, name, value)
        # The references' settings, stated here so that a change of MAAAL's (the paper's)
        # defaults leaves them alone: Adam (RLlib's default optimiser), lr 5e-4, global-norm
        # clip 10, batches of 32 episodes, a buffer of 5000 episodes, a hard target copy every
        # 200 updates, ε 1 → 0.05 over 50k env steps.
        self.lr = 5e-4
        self.gamma = 0.99
        self.grad_clip = 10.0
        self.grad_clip_by = "global_norm"
        self.episodes_per_update = 32
        self.num_episodes_before_learning_starts = 32
        self.replay_capacity = 5000
        self.target_network_update_freq = 200
        self.tau = 1.0
        self.epsilon_action = [[0, 1.0], [50_000, 0.05]]

    def validate(self) -> None:
        # First: a pinned field set otherwise would only trip MAAAL's checks of that setting.
        prefix = type(self).__name__
        for name, value in self.PINNED.items():
            if getattr(self, name) != value:
                raise ValueError(
                    f"{prefix}.{name} must be {value!r}; got {getattr(self, name)!r} "
                    f"(for other values use run: MAAAL)"
                )
        super().validate()


class VDNConfig(QMIXConfig):
    """QMIX's configuration with the VDN sum as the mixer."""

    PINNED: ClassVar[dict[str, Any]] = {"allocation": "none", "mixer": "vdn"}

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or VDN)


class QMIX(MAAAL):
    """MAAAL's training loop under :class:`QMIXConfig`."""

    @classmethod
    def get_default_config(cls) -> QMIXConfig:
        return QMIXConfig()


class VDN(MAAAL):
    """MAAAL's training loop under :class:`VDNConfig`."""

    @classmethod
    def get_default_config(cls) -> VDNConfig:
        return VDNConfig()
