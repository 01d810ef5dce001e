"""Experiment specs of the ``rllib`` command: loading, overrides, validation and Tune objects.

An experiment file is RLlib's classic YAML format, one or more experiments by name::

    cartpole-ppo:
      run: PPO                       # any RLlib algorithm or one of ours (MAAAL, ...)
      env: CartPole-v1               # one of ours (maaal/...), a gymnasium id, or a Tune env
      stop: {training_iteration: 10}
      config: {lr: {loguniform: [1.0e-4, 1.0e-2]}, train_batch_size_per_learner: 1000}
      checkpoint_config: {checkpoint_frequency: 5, checkpoint_at_end: true, num_to_keep: 2}
      num_samples: 1
      storage_path: ~/ray_results   # optional
      search_alg: {type: optuna}      # optional, metric/mode default to the episode return
      scheduler: {type: asha}         # optional

Everything here runs before Ray starts, so that bad input fails in a second with one line that
names the field instead of after a cluster boot with a remote traceback.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from rllib_maaal.config_values import check_config_values
from rllib_maaal.validation import did_you_mean

#: Keys an experiment may have, and what each is for.
EXPERIMENT_KEYS: dict[str, str] = {
    "run": "algorithm name",
    "env": "environment name",
    "stop": "stopping criteria",
    "config": "RLlib config dict",
    "checkpoint_config": "checkpoint settings",
    "num_samples": "number of trials per search-space point",
    "storage_path": "where results and checkpoints go",
    "search_alg": "Tune search algorithm",
    "scheduler": "Tune trial scheduler",
    "max_failures": "times Tune restarts a failed trial from its checkpoint (-1: always)",
}

#: The metric ranked for "best" trials and, by default, optimised by searchers and schedulers.
DEFAULT_METRIC = "env_runners/episode_return_mean"

#: Stop keys reported by every RLlib algorithm (new API stack). Any other result metric may be
#: named by its path with slashes, e.g. ``env_runners/episode_return_mean``.
STOP_KEYS: tuple[str, ...] = (
    "training_iteration",
    "time_total_s",
    "timesteps_total",
    "num_env_steps_sampled_lifetime",
)

#: Old stop names → the result key the new API stack reports. Tune silently never stops on a key
#: missing from the results, so the old names are translated instead of passed through.
STOP_ALIASES: dict[str, str] = {"timesteps_total": "num_env_steps_sampled_lifetime"}

#: Common metric paths, offered as suggestions for misspelt stop keys.
_METRIC_SUGGESTIONS: tuple[str, ...] = (
    DEFAULT_METRIC,
    "env_runners/episode_len_mean",
    "evaluation/env_runners/episode_return_mean",
)

#: Fields of ``tune.CheckpointConfig`` that may appear under ``checkpoint_config``.
CHECKPOINT_KEYS: tuple[str, ...] = (
    "checkpoint_frequency",
    "checkpoint_at_end",
    "num_to_keep",
    "checkpoint_score_attribute",
    "checkpoint_score_order",
)

#: Tune sampling functions written in YAML as ``{name: [args...]}`` or ``{name: {kwargs}}``.
#: ``grid_search`` is not here: ``{grid_search: [...]}`` is already Tune's own form.
SEARCH_SPACES: tuple[str, ...] = (
    "choice",
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "randn",
    "qrandn",
    "randint",
    "qrandint",
    "lograndint",
    "qlograndint",
)

#: Short scheduler names users know from papers, mapped to Tune's names.
SCHEDULER_ALIASES: dict[str, str] = {"asha": "async_hyperband"}


class ExperimentError(ValueError):
    """Bad user input; its message is the one line the command prints."""


@dataclasses.dataclass
class Experiment:
    """One validated experiment, ready to be turned into a ``tune.Tuner``."""

    name: str
    run: str
    env: str | None
    stop: dict[str, Any]
    config: dict[str, Any]
    checkpoint_config: dict[str, Any]
    num_samples: int
    storage_path: str
    search_alg: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    #: Tune's ``FailureConfig.max_failures``; None: Tune's default (0), or the saved one on resume.
    max_failures: int | None = None

    @property
    def path(self) -> Path:
        """Directory Tune writes this experiment's results and checkpoints to."""
        return Path(self.storage_path) / self.name


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes one line with the source and the line number."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark is not None else source
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ExperimentError(f"YAML syntax error in {where}: {problem}") from err


def load_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read an experiment file into ``{name: spec}``."""
    path = Path(path)
    if not path.is_file():
        raise ExperimentError(f"experiment file not found: {path}")
    specs = parse_yaml(path.read_text(), str(path))
    if not isinstance(specs, dict) or not specs:
        raise ExperimentError(f"{path}: expected a mapping {{experiment name: {{run: ..., ...}}}}")
    for name, spec in specs.items():
        if not isinstance(spec, dict):
            raise ExperimentError(f"{path}: experiment {name!r} must be a mapping, got {spec!r}")
    return specs


def inline_spec(
    algo: str, env: str | None, stop: str | None, config: str | None, name: str | None
) -> dict[str, dict[str, Any]]:
    """The experiment of ``rllib train --algo A --env E --stop JSON --config JSON``."""
    spec: dict[str, Any] = {"run": algo}
    if env is not None:
        spec["env"] = env
    for key, text in (("stop", stop), ("config", config)):
        if text is not None:
            value = parse_yaml(text, f"--{key}")  # JSON is YAML.
            if not isinstance(value, dict):
                raise ExperimentError(f"--{key} must be a JSON object, got {text!r}")
            spec[key] = value
    default_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{algo}_{env}" if env else algo)
    return {name or default_name: spec}


def apply_overrides(specs: dict[str, dict[str, Any]], overrides: Iterable[str]) -> None:
    """Apply ``path.to.key=value`` overrides (value parsed as YAML) to every experiment."""
    for item in overrides:
        dotted, sep, text = item.partition("=")
        keys = dotted.split(".")
        if not sep or not all(keys):
            raise ExperimentError(f"override {item!r} must look like config.lr=0.001")
        if keys[0] not in EXPERIMENT_KEYS:
            raise ExperimentError(
                f"override {item!r}: unknown experiment key {keys[0]!r}"
                f"{did_you_mean(keys[0], EXPERIMENT_KEYS)}; allowed: {', '.join(EXPERIMENT_KEYS)}"
            )
        value = parse_yaml(text, f"override {item!r}")
        for spec in specs.values():
            node = spec
            for key in keys[:-1]:
                if not isinstance(node.get(key), dict):
                    node[key] = {}
                node = node[key]
            node[keys[-1]] = copy.deepcopy(value)


def build_experiments(
    specs: dict[str, dict[str, Any]],
    storage_path: str | None = None,
    num_samples: int | None = None,
) -> list[Experiment]:
    """Validate every spec (algorithm, env, config keys, stop keys, ...) into ``Experiment``s."""
    return [_build(name, spec, storage_path, num_samples) for name, spec in specs.items()]


def _build(
    name: str, spec: dict[str, Any], storage_path: str | None, num_samples: int | None
) -> Experiment:
    where = f"experiment {name!r}"
    for key in spec:
        if key not in EXPERIMENT_KEYS:
            raise ExperimentError(
                f"{where}: unknown key {key!r}{did_you_mean(key, EXPERIMENT_KEYS)}; "
                f"allowed: {', '.join(EXPERIMENT_KEYS)}"
            )
    if "run" not in spec:
        raise ExperimentError(f"{where}: missing 'run' (the algorithm, e.g. run: PPO)")
    algo_cls = algorithm_class(str(spec["run"]))
    config = dict(_mapping(spec, "config", where))
    env = spec.get("env", config.get("env"))
    if env is None:
        raise ExperimentError(f"{where}: missing 'env' (e.g. env: CartPole-v1 or maaal/city)")
    validate_env(env)
    config["env"] = env
    validate_config_keys(config, algo_cls, where)
    stop = validate_stop(_mapping(spec, "stop", where), where)
    checkpoint = {"checkpoint_at_end": True, **_mapping(spec, "checkpoint_config", where)}
    for key in checkpoint:
        if key not in CHECKPOINT_KEYS:
            raise ExperimentError(
                f"{where}: unknown checkpoint_config key {key!r}"
                f"{did_you_mean(key, CHECKPOINT_KEYS)}; allowed: {', '.join(CHECKPOINT_KEYS)}"
            )
    samples = num_samples if num_samples is not None else spec.get("num_samples", 1)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ExperimentError(f"{where}: num_samples must be a positive integer, got {samples!r}")
    max_failures = spec.get("max_failures")
    if max_failures is not None and (
        not isinstance(max_failures, int) or isinstance(max_failures, bool) or max_failures < -1
    ):
        raise ExperimentError(
            f"{where}: max_failures must be an integer, -1 (always retry) or more, got "
            f"{max_failures!r}"
        )
    path = storage_path or spec.get("storage_path") or "~/ray_results"
    search_alg, scheduler = (
        _typed_section(spec, key, where) for key in ("search_alg", "scheduler")
    )
    return Experiment(
        name=str(name),
        run=str(spec["run"]),
        env=env,
        stop=stop,
        config=config,
        checkpoint_config=checkpoint,
        num_samples=samples,
        storage_path=str(Path(path).expanduser().resolve()),
        search_alg=search_alg,
        scheduler=scheduler,
        max_failures=max_failures,
    )


def _mapping(spec: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = spec.get(key) or {}
    if not isinstance(value, dict):
        raise ExperimentError(f"{where}: {key!r} must be a mapping, got {value!r}")
    return value


def _typed_section(spec: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    if spec.get(key) is None:
        return None
    section = _mapping(spec, key, where)
    if not isinstance(section.get("type"), str):
        raise ExperimentError(f"{where}: {key} needs a 'type' (e.g. {key}: {{type: ...}})")
    return dict(section)


def known_algorithms() -> list[str]:
    """Names ``run:`` accepts: RLlib's built-in algorithms and ours."""
    from ray.rllib.algorithms.registry import ALGORITHMS as RLLIB_ALGORITHMS

    from rllib_maaal.registry import ALGORITHMS

    return sorted(set(RLLIB_ALGORITHMS) | set(ALGORITHMS))


def algorithm_class(name: str) -> type:
    """The Algorithm class of ``name``: ours, RLlib's, or a trainable registered with Tune.

    RLlib's are imported one by one: Tune's ``get_trainable_cls`` would import all of them
    (seconds, and warnings from their module-level code) to look up a single name.
    """
    from ray.rllib.algorithms.registry import ALGORITHMS as RLLIB_ALGORITHMS
    from ray.tune.registry import TRAINABLE_CLASS, _global_registry

    import rllib_maaal  # noqa: F401 - registers our algorithms and envs with Tune
    from rllib_maaal.registry import ALGORITHMS
    from rllib_maaal.registry import algorithm_class as our_algorithm_class

    if name in ALGORITHMS:
        try:  # Import directly: Tune's registry would hide why our module failed to load.
            return our_algorithm_class(name)
        except ImportError as err:
            raise ExperimentError(f"algorithm {name!r} cannot be imported: {err}") from err
    if name in RLLIB_ALGORITHMS:
        return RLLIB_ALGORITHMS[name]()[0]
    if _global_registry.contains(TRAINABLE_CLASS, name):
        return _global_registry.get(TRAINABLE_CLASS, name)
    known = known_algorithms()
    raise ExperimentError(
        f"unknown algorithm {name!r}{did_you_mean(name, known)}; known: {', '.join(known)}"
    )


def validate_env(env: Any) -> None:
    """Accept our tasks, gymnasium ids (``module:Id`` too) and Tune-registered env names."""
    if not isinstance(env, str):
        return  # An env class or a search space: RLlib/Tune check it themselves.
    import gymnasium
    from ray.tune.registry import ENV_CREATOR, _global_registry

    from rllib_maaal.envs import TASKS

    if (
        env in TASKS
        or env in gymnasium.envs.registry
        or _global_registry.contains(ENV_CREATOR, env)
    ):
        return
    module, sep, _ = env.partition(":")
    if sep and importlib.util.find_spec(module) is not None:
        return
    raise ExperimentError(
        f"unknown environment {env!r}{did_you_mean(env, [*TASKS, *gymnasium.envs.registry])}; "
        "ours: "
        f"{', '.join(sorted(TASKS))}; also accepted: gymnasium ids (e.g. CartPole-v1, "
        "module:EnvId) and names registered with ray.tune.register_env"
    )


def config_keys(algo_cls: type) -> set[str]:
    """Keys ``AlgorithmConfig.update_from_dict`` understands for ``algo_cls``.

    The default config's ``to_dict()`` keys, plus settable properties (such as
    ``train_batch_size_per_learner``, stored privately) and RLlib's own aliases (``lambda``).
    """
    default = algo_cls.get_default_config()
    keys = set(default.to_dict())
    for key in list(keys):
        attr = default._translate_special_keys(key, warn_deprecated=False)
        keys.add(attr)
    for cls in type(default).__mro__:
        keys.update(k for k, v in vars(cls).items() if isinstance(v, property) and v.fset)
    return {k for k in keys if not k.startswith("_")} | {"_validate_config"}


def validate_config_keys(config: dict[str, Any], algo_cls: type, where: str) -> None:
    """Every config key must be one the algorithm's default config knows (typos fail early)."""
    allowed = config_keys(algo_cls) | {"model_config"}
    for key in config:
        if key == "model" and config[key]:
            raise ExperimentError(
                f"{where}: config key 'model' is the old API stack's and is ignored; set network "
                "sizes with model_config (e.g. model_config: {hidden: 128})"
            )
        if key not in allowed:
            raise ExperimentError(
                f"{where}: unknown config key {key!r} for {algo_cls.__name__}"
                f"{did_you_mean(key, allowed)}"
            )


def validate_stop(stop: dict[str, Any], where: str) -> dict[str, Any]:
    """Check stop keys and values; translate old names (see ``STOP_ALIASES``)."""
    checked = {}
    for key, value in stop.items():
        if key not in STOP_KEYS and "/" not in str(key):
            raise ExperimentError(
                f"{where}: unknown stop key {key!r}"
                f"{did_you_mean(key, [*STOP_KEYS, *_METRIC_SUGGESTIONS])}; allowed: "
                f"{', '.join(STOP_KEYS)} or a result metric path such as {DEFAULT_METRIC}"
            )
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ExperimentError(f"{where}: stop value of {key!r} must be a number, got {value!r}")
        checked[STOP_ALIASES.get(key, key)] = value
    return checked


def _concrete(value: Any) -> list[Any] | None:
    """The values a config entry can take without sampling: itself, or a grid's values; None
    for a random domain (checked once sampled, by :func:`validate_search_space`)."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, args),) = value.items()
        if kind == "grid_search":
            return list(args) if isinstance(args, list) else [args]
        if kind in SEARCH_SPACES:
            return None
    return [value]


def quick_check(name: str, spec: Any) -> None:
    """The checks of experiment ``spec`` that need neither Ray nor RLlib (loading RLlib alone
    takes seconds), run first so that the common mistakes fail at once: value types and ranges
    of every grid value, and the env's config by the env's own checker. The rest of the spec
    is checked by :func:`build_experiments` and :func:`validate_search_space`."""
    from rllib_maaal.envs import TASKS, check_env_config

    config = spec.get("config") if isinstance(spec, dict) else None
    if not isinstance(config, dict):
        return
    env = spec.get("env", config.get("env"))
    where = f"experiment {name!r}"
    try:
        to_search_space(config)  # empty or malformed grids
        for key, value in config.items():
            for candidate in _concrete(value) or ():
                check_config_values({key: candidate})
        env_configs = _concrete(config.get("env_config") or {}) or []
        if isinstance(env, str) and env in TASKS:
            for env_config in env_configs:
                plain = isinstance(env_config, dict) and all(
                    _concrete(v) == [v] for v in env_config.values()
                )
                if plain:
                    check_env_config(env, env_config)
    except ExperimentError as err:
        raise ExperimentError(f"{where}: {err}") from err
    except (ValueError, TypeError, ImportError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ExperimentError(f"{where}: {first}") from err


def search_points(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every grid point of ``config``'s search space, with one sample of each random domain."""
    from ray.tune.search.variant_generator import generate_variants

    space = to_search_space(config)
    return [resolved for _, resolved in generate_variants(space)]


def algorithm_config(algo_cls: type, point: dict[str, Any]) -> Any:
    """The ``AlgorithmConfig`` of one resolved config dict (``model_config`` included)."""
    point = dict(point)
    model_config = point.pop("model_config", None)
    config = algo_cls.get_default_config().update_from_dict(point)
    if model_config is not None:
        config.rl_module(model_config=model_config)
    return config


def validate_point(exp: Experiment, point: dict[str, Any], where: str) -> Any:
    """Everything a trial would check after Ray starts, now: value types and ranges, the env's
    config (by the env's own checker), RLlib's and our ``validate()``, and for our tasks the
    RLModule built on the env's spaces. Returns the ``AlgorithmConfig``."""
    from rllib_maaal.envs import TASKS, check_env_config

    try:
        check_config_values(point)
        spaces = None
        if exp.env in TASKS:
            spaces = check_env_config(exp.env, point.get("env_config") or {})
        config = algorithm_config(algorithm_class(exp.run), point)
        config.validate()
        if spaces is not None and hasattr(config, "MODEL_DEFAULTS"):
            spec = config.get_default_rl_module_spec()
            spec.observation_space, spec.action_space = spaces
            spec.model_config = config.model_config
            spec.build()
            if hasattr(config, "validate_spaces"):
                config.validate_spaces(spaces[0])
    except ExperimentError:
        raise
    except Exception as err:  # RLlib raises ValueError, TypeError, AttributeError, ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ExperimentError(f"{where}: {first}") from err
    return config


def validate_search_space(exp: Experiment) -> list[Any]:
    """:func:`validate_point` for every point of ``exp``'s search space; the configs."""
    where = f"experiment {exp.name!r}"
    try:
        points = search_points(exp.config)
    except ExperimentError as err:
        raise ExperimentError(f"{where}: {err}") from err
    configs = []
    for i, point in enumerate(points):
        label = f"{where}, search point {i + 1} of {len(points)}" if len(points) > 1 else where
        configs.append(validate_point(exp, point, label))
    return configs


def to_search_space(value: Any, path: str = "config") -> Any:
    """Turn YAML search spaces (``{uniform: [0, 1]}``) into Tune's (``tune.uniform(0, 1)``)."""
    if isinstance(value, list):
        return [to_search_space(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((kind, args),) = value.items()
        if kind == "grid_search":
            if not isinstance(args, list) or not args:
                raise ExperimentError(
                    f"{path}: grid_search must be a non-empty list of values; got {args!r}"
                )
            return {kind: [to_search_space(v, path) for v in args]}
        if kind in SEARCH_SPACES:
            from ray import tune

            sampler = getattr(tune, kind)
            try:
                return (
                    sampler(**args) if isinstance(args, dict) else sampler(*_positional(kind, args))
                )
            except (TypeError, ValueError) as err:
                raise ExperimentError(f"bad search space {{{kind}: {args!r}}}: {err}") from err
    return {k: to_search_space(v, f"{path}.{k}") for k, v in value.items()}


def _positional(kind: str, args: Any) -> list[Any]:
    # choice takes its categories as one list; the others take their bounds one by one.
    return [args] if kind == "choice" or not isinstance(args, list) else args


def tuner_parts(exp: Experiment) -> dict[str, Any]:
    """Tune objects of an experiment: ``param_space``, ``tune_config`` and ``run_config`` kwargs
    (``checkpoint_config``, ``failure_config``).

    The metric and mode of ``search_alg``/``scheduler`` go to ``TuneConfig`` (Tune refuses them
    in two places), defaulting to the mean episode return, maximised.
    """
    from ray import tune

    param_space = to_search_space(exp.config)
    if "model_config" in param_space:  # AlgorithmConfig.update_from_dict's name for it
        param_space["_model_config"] = param_space.pop("model_config")
    metric, mode = DEFAULT_METRIC, "max"
    search_alg = scheduler = None
    for section in (exp.search_alg, exp.scheduler):
        if section:
            metric, mode = section.get("metric", metric), section.get("mode", mode)
    if exp.search_alg:
        kwargs = {k: v for k, v in exp.search_alg.items() if k not in ("type", "metric", "mode")}
        search_alg = _create(tune.create_searcher, exp.search_alg["type"], kwargs, "search_alg")
    if exp.scheduler:
        kwargs = {k: v for k, v in exp.scheduler.items() if k not in ("type", "metric", "mode")}
        kind = SCHEDULER_ALIASES.get(exp.scheduler["type"], exp.scheduler["type"])
        scheduler = _create(tune.create_scheduler, kind, kwargs, "scheduler")
    tuned = search_alg is not None or scheduler is not None
    return {
        "param_space": param_space,
        "tune_config": tune.TuneConfig(
            num_samples=exp.num_samples,
            search_alg=search_alg,
            scheduler=scheduler,
            metric=metric if tuned else None,
            mode=mode if tuned else None,
        ),
        "checkpoint_config": tune.CheckpointConfig(**exp.checkpoint_config),
        "failure_config": tune.FailureConfig(max_failures=exp.max_failures or 0),
    }


def _create(factory: Any, kind: str, kwargs: dict[str, Any], section: str) -> Any:
    try:
        return factory(kind, **kwargs)
    except (ValueError, TypeError, ImportError, AssertionError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExperimentError(f"{section} {{type: {kind}}}: {first}") from err
