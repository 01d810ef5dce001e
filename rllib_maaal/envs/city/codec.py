"""How the replay stores the city's observations: every key rebuilt exactly from fewer bytes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from gymnasium import spaces

from rllib_maaal.envs.city.kernels import N_FEATURES
from rllib_maaal.envs.team import ObservationCodec

#: The geometric pair features (dx, dy, walk) of an agent and a building; the rest of a pair's
#: features are the one-hot (agent type, subtask type), fixed for an episode.
_PAIR_GEOMETRY = 3


class CityCodec(ObservationCodec):
    """The replay's storage of the city's observations, which repeat themselves (see
    ``CityCore.observe``): ``state`` is every entity's features and then the time; ``obs`` is
    the agents' rows of them (entity layout) or those rows followed by all of them (flat);
    ``pair`` gives a building's two subtasks the same geometric features, and its (agent type,
    subtask type) one-hots do not change within an episode. Stored per step: ``entities`` (flat
    layout: ``state``), the time, one copy of the geometric pair features; once per episode:
    the masks, the subtask table and the pair one-hots. Decoding rebuilds every key exactly.
    """

    def __init__(
        self, space: spaces.Dict, drop: Iterable[str], n_agents: int, n_buildings: int
    ) -> None:
        constant = ("subtask_type", "subtask_action_mask", "agent_unit", "agent_mask")
        super().__init__(space, (*constant, "entity_mask"), drop)
        self.flat = "entities" not in space.spaces
        self.n_agents, self.n_buildings = n_agents, n_buildings
        self.n_entity_values = space["state"].shape[0] - 1
        self.step_keys = tuple(key for key in self.step_keys if key != "obs")

    def encode_step(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = super().encode_step(obs)
        if not self.flat and "state" in out:
            out["state"] = obs["state"][..., self.n_entity_values :]
        if "pair" in out:
            out["pair"] = obs["pair"][..., : self.n_buildings, :_PAIR_GEOMETRY]
        return out

    def encode_constant(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = super().encode_constant(obs)
        if "pair" in self.dtypes:
            out["pair_kind"] = obs["pair"][..., _PAIR_GEOMETRY:]
        return out

    def decode(
        self, steps: Mapping[str, np.ndarray], constant: Mapping[str, np.ndarray], valid: np.ndarray
    ) -> dict[str, np.ndarray]:
        out = super().decode(steps, constant, valid)
        lead = valid.shape
        if self.flat:
            entity_values = out["state"][..., :-1]
        else:
            entity_values = out["entities"].reshape(*lead, self.n_entity_values)
            if "state" in out:  # written in place: these are the replay's largest arrays
                state = np.empty((*lead, self.n_entity_values + 1), np.float32)
                state[..., :-1] = entity_values
                state[..., -1:] = out["state"]
                out["state"] = state
        if "obs" in self.dtypes:
            own = entity_values.reshape(*lead, -1, N_FEATURES)[..., : self.n_agents, :]
            if self.flat:
                every = entity_values[..., None, :]
                shape = (*lead, self.n_agents, self.n_entity_values)
                own = np.concatenate([own, np.broadcast_to(every, shape)], axis=-1)
            out["obs"] = own
        if "pair" in out:
            geometry, kind = out["pair"], constant["pair_kind"]
            pair = np.empty((*lead, *kind.shape[1:-1], _PAIR_GEOMETRY + kind.shape[-1]), np.float32)
            pair[..., : self.n_buildings, :_PAIR_GEOMETRY] = geometry
            pair[..., self.n_buildings :, :_PAIR_GEOMETRY] = geometry
            pair[..., _PAIR_GEOMETRY:] = kind[:, None]
            pair[~valid, ..., _PAIR_GEOMETRY:] = 0
            out["pair"] = pair
        return out
