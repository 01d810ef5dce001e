"""QMIX and VDN: MAAAL's code under pinned settings and the QMIX references' defaults."""

from __future__ import annotations

import pytest

from rllib_maaal.algorithms.maaal import QMIX, VDN, QMIXConfig, VDNConfig
from rllib_maaal.experiment import algorithm_class, algorithm_config


@pytest.mark.parametrize(("name", "cls", "mixer"), [("QMIX", QMIX, "qmix"), ("VDN", VDN, "vdn")])
def test_registered_names_give_the_pinned_configuration(name, cls, mixer):
    assert algorithm_class(name) is cls
    config = cls.get_default_config()
    assert (config.allocation, config.mixer, config.algo_class) == ("none", mixer, cls)
    # pymarl2 / EPyMARL
    assert (config.lr, config.grad_clip, config.grad_clip_by) == (5e-4, 10.0, "global_norm")
    assert (config.episodes_per_update, config.target_network_update_freq) == (32, 200)
    assert config.epsilon_action == [[0, 1.0], [50_000, 0.05]]
    config.environment("CartPole-v1").validate()


@pytest.mark.parametrize(
    ("cls", "field", "value", "message"),
    [
        (
            QMIXConfig,
            "allocation",
            "learned",
            "QMIXConfig.allocation must be 'none'; got 'learned'",
        ),
        (VDNConfig, "allocation", "rule", "VDNConfig.allocation must be 'none'; got 'rule'"),
        (QMIXConfig, "mixer", "vdn", "QMIXConfig.mixer must be 'qmix'; got 'vdn'"),
        (VDNConfig, "mixer", "qmix", "VDNConfig.mixer must be 'vdn'; got 'qmix'"),
    ],
)
def test_validate_refuses_other_settings_of_the_pinned_fields(cls, field, value, message):
    config = cls().environment("CartPole-v1").training(**{field: value})
    with pytest.raises(ValueError, match=message) as error:
        config.validate()
    assert "run: MAAAL" in str(error.value)


def test_a_yaml_config_dict_keeps_the_pinning():
    config = algorithm_config(QMIX, {"env": "CartPole-v1", "allocation": "static"})
    with pytest.raises(ValueError, match="allocation must be 'none'"):
        config.validate()
