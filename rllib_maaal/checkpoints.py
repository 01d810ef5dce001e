"""Crash-safe checkpoints for ``rllib train --resume`` and ``rllib evaluate``.

What Tune leaves behind after a crash, and what this module does about it:

- **Which checkpoints are complete.** Tune writes a trial's checkpoint to a temporary folder and
  then copies it file by file into ``TRIAL/checkpoint_NNNNNN``; a process killed during that copy
  leaves a folder that looks like a checkpoint but is not one (empty, or with some files). The
  files cannot tell: ``rllib_checkpoint.json`` may be copied first. So :class:`CheckpointMarker`,
  a Tune callback of every ``rllib train`` run, writes :data:`MARKER` into a checkpoint once the
  trial's ``save`` has returned, i.e. after the copy finished, before Tune registers it. In a
  trial that :data:`TRIAL_FLAG` says was written with markers, a checkpoint without one is
  incomplete. Trials without the flag (older runs, plain Tune scripts) fall back to the files:
  ``rllib_checkpoint.json`` and the files it names, and the learned weights
  (``learner_group/learner/rl_module``, whose absence RLlib's restore skips without a word).

- **Where a resumed trial continues.** Tune's ``Tuner.restore`` continues from the experiment
  state Tune last saved (every 10 s or more, not at each checkpoint), so after ``kill -9`` it
  knows an older checkpoint than the newest one, or none, and new checkpoints overwrite the
  newer ones; it also keeps decisions that were waiting for a checkpoint to finish, such as the
  stop of a trial whose final checkpoint was cut short, so that trial ends after one iteration.
  Rather than redo Tune's restore (searcher, scheduler and callback state, trial names and
  folders), :func:`prepare_resume` rewrites that saved state before ``Tuner.restore`` reads it:
  for each trial, the newest complete checkpoint becomes its latest checkpoint, with the results
  of that iteration as its last result; the trial is finished only if those results meet its stop
  criterion (otherwise it is resumed, whatever status Tune saved); its checkpoint numbering goes
  on after that checkpoint; incomplete checkpoints are removed and reported. The pending
  decisions are dropped. (:class:`CheckpointMarker` cuts its result files back to that
  iteration when it starts.)

- **Trials the saved state does not know.** A search algorithm (Optuna, ...) creates trials as
  earlier ones start or end, so a driver killed between two saves leaves trial folders, with
  checkpoints, that no saved state holds; Tune would drop them and its searcher, restored from
  the same save, would create as many new trials in their place. :func:`prepare_resume` adds
  them to the saved state from the state :class:`CheckpointMarker` stored in each trial folder
  at its start, and counts them as created in the saved search state; :class:`_AdoptedTrials`
  keeps their results from the searcher, which never suggested them (Optuna fails on trial ids
  it does not know).

One run per experiment: :mod:`rllib_maaal.locks`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import re
import shutil
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.search import Searcher
from ray.tune.search.util import _set_search_properties_backwards_compatible

from rllib_maaal.curves import read_results
from rllib_maaal.experiment import ExperimentError

#: Written into a checkpoint folder once Tune has fully written it (see the module docstring).
MARKER = ".rllib_complete"
#: In a trial folder: this trial's checkpoints carry :data:`MARKER` when complete. It holds the
#: trial's Tune state when it started (empty in trials adopted from before), for a resume that
#: finds the trial in no saved experiment state.
TRIAL_FLAG = ".rllib_checkpoint_markers"
#: Where RLlib keeps an algorithm's learned weights inside its checkpoint.
WEIGHTS = "learner_group/learner/rl_module"

_CHECKPOINT_NAME = re.compile(r"^checkpoint_(\d+)$")


def checkpoint_problem(path: Path) -> str | None:
    """Why the RLlib algorithm checkpoint at ``path`` is unusable, judged by its files; None if
    usable. (Within a Tune trial, :func:`trial_checkpoints` also asks for the marker.)"""
    if not path.is_dir():
        return "not found"
    try:
        meta = json.loads((path / "rllib_checkpoint.json").read_text())
    except (OSError, ValueError):
        return "no readable rllib_checkpoint.json"
    ctor_file = meta.get("class_and_ctor_args_file", "class_and_ctor_args.pkl")
    if not (path / ctor_file).is_file():
        return f"{ctor_file} is missing"
    state = meta.get("state_file", "algorithm_state")
    if not any((path / f"{state}{suffix}").is_file() for suffix in (".pkl", ".msgpack")):
        return f"{state}.pkl is missing"
    if not (path / WEIGHTS).is_dir():
        return f"no learned weights ({WEIGHTS}/ is missing)"
    return None


@dataclasses.dataclass
class TrialCheckpoint:
    """One ``checkpoint_NNNNNN`` folder of a Tune trial."""

    path: Path
    index: int
    #: Why it is incomplete; None when complete.
    problem: str | None


def trial_checkpoints(trial_dir: Path) -> list[TrialCheckpoint]:
    """The checkpoints of a Tune trial folder, oldest first, each judged complete or not."""
    found = []
    for path in trial_dir.iterdir() if trial_dir.is_dir() else ():
        match = _CHECKPOINT_NAME.match(path.name)
        if match and path.is_dir():
            found.append(TrialCheckpoint(path, int(match.group(1)), _trial_problem(path)))
    return sorted(found, key=lambda c: c.index)


def _trial_problem(path: Path) -> str | None:
    """:func:`checkpoint_problem`, and the marker where the trial folder says there is one."""
    problem = checkpoint_problem(path)
    if problem is None and (path.parent / TRIAL_FLAG).is_file() and not (path / MARKER).is_file():
        problem = "not marked complete: interrupted while being written"
    return problem


def newest_complete(trial_dir: Path) -> TrialCheckpoint | None:
    """The trial's newest complete checkpoint, if it has one."""
    complete = [c for c in trial_checkpoints(trial_dir) if c.problem is None]
    return complete[-1] if complete else None


def evaluation_checkpoint(path: str) -> Path:
    """The checkpoint ``rllib evaluate PATH`` restores: ``PATH`` itself (relative to the current
    directory, ``~`` expanded) or, for a trial folder, its newest complete checkpoint. Anything
    unusable is an ``ExperimentError`` (one line, exit status 2)."""
    directory = Path(path).expanduser().resolve()
    if not directory.is_dir():
        raise ExperimentError(f"checkpoint not found: {directory}")
    if (directory / "rllib_checkpoint.json").is_file() or not any(
        _CHECKPOINT_NAME.match(p.name) for p in directory.iterdir()
    ):
        problem = _trial_problem(directory)
        if problem is not None:
            raise ExperimentError(f"not a usable RLlib checkpoint ({problem}): {directory}")
        return directory
    newest = newest_complete(directory)
    if newest is None:
        raise ExperimentError(f"no complete checkpoint in the trial folder {directory}")
    return newest.path


class CheckpointMarker(Callback):
    """Marks each trial as one whose checkpoints carry :data:`MARKER`, and marks each checkpoint
    complete once Tune has written it (``on_checkpoint`` runs after the trial's ``save``); the
    marker holds the results of the checkpoint's iteration, which a resume restores with it.

    It also keeps the trial's ``result.json`` and ``progress.csv`` right. Tune writes them in a
    staging folder of the Ray session and copies them to the storage folder only when it saves
    the experiment state; a trial that starts from a checkpoint gets the storage folder's copies
    back and appends to them. So they are copied at each checkpoint too (``kill -9`` would lose
    the newest rows), and when a trial starts they are cut back to the iteration it starts from,
    so that the iterations trained again appear once.
    """

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        storage = trial.storage
        # The trial's folder may not exist yet (a searcher's trials get it from their actor).
        storage.storage_filesystem.create_dir(storage.trial_fs_path)
        state = json.dumps(trial.get_json_state()).encode()
        _write(storage.storage_filesystem, f"{storage.trial_fs_path}/{TRIAL_FLAG}", state)
        restored = trial.run_metadata.checkpoint_manager.latest_checkpoint_result
        iteration = restored.metrics.get("training_iteration", 0) if restored else 0
        # Tune copies the storage folder's files over the staging ones when there is a checkpoint.
        _truncate_results(storage.storage_filesystem, storage.trial_fs_path, iteration)
        _truncate_results(None, storage.trial_driver_staging_path, iteration)

    def on_checkpoint(
        self, iteration: int, trials: list[Any], trial: Any, checkpoint: Any, **info: Any
    ) -> None:
        from ray.tune.utils.util import SafeFallbackEncoder

        storage = trial.storage
        staging = Path(storage.trial_driver_staging_path)
        for name in _RESULT_FILES:
            destination = f"{storage.trial_fs_path}/{name}"
            _copy(None, str(staging / name), storage.storage_filesystem, destination)
        result = json.dumps(trial.last_result, cls=SafeFallbackEncoder).encode()
        _write(checkpoint.filesystem, f"{checkpoint.path}/{MARKER}", result)


class CheckpointThenStop(Callback):
    """Once :attr:`requested` is set (the first Ctrl-C or SIGTERM), every running trial takes a
    checkpoint at its next result, and then the experiment stops gracefully (Tune's SIGUSR1
    stop, which saves the experiment state): an interruption loses at most the iteration in
    flight, whatever ``checkpoint_frequency`` says. Trials that never started stay unstarted.
    """

    def __init__(self) -> None:
        self.requested = False
        self._checkpointed: set[str] = set()
        self._stopping = False

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any
    ) -> None:
        from ray.tune.result import SHOULD_CHECKPOINT

        if self.requested and trial.trial_id not in self._checkpointed:
            result[SHOULD_CHECKPOINT] = True  # Tune reads this after its callbacks ran

    def on_checkpoint(
        self, iteration: int, trials: list[Any], trial: Any, checkpoint: Any, **info: Any
    ) -> None:
        if self.requested:
            self._checkpointed.add(trial.trial_id)

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if not self.requested or self._stopping:
            return
        running = {t.trial_id for t in trials if t.status == "RUNNING"}
        if running <= self._checkpointed:
            self._stopping = True
            os.kill(os.getpid(), signal.SIGUSR1)


#: A trial's result files that Tune appends to.
_RESULT_FILES = ("result.json", "progress.csv")


def _write(filesystem: Any, path: str, data: bytes) -> None:
    with filesystem.open_output_stream(path) as out:
        out.write(data)


def _copy(source_fs: Any, source: str, destination_fs: Any, destination: str) -> None:
    """Copy one file between (pyarrow) filesystems, None being the local one; skip if absent
    or if both are the same file (storage on the driver's own staging folder)."""
    import pyarrow.fs

    local = pyarrow.fs.LocalFileSystem()
    source_fs, destination_fs = source_fs or local, destination_fs or local
    if source_fs.get_file_info(source).type != pyarrow.fs.FileType.File:
        return
    if source_fs.equals(destination_fs) and os.path.realpath(source) == os.path.realpath(
        destination
    ):
        return
    pyarrow.fs.copy_files(
        source, destination, source_filesystem=source_fs, destination_filesystem=destination_fs
    )


def prepare_resume(experiment_dir: Path, max_failures: int | None = None) -> list[str]:
    """Rewrite Tune's newest saved experiment state so that ``Tuner.restore`` continues each
    trial from its newest complete checkpoint, the trials started after that save included (see
    the module docstring). ``max_failures`` replaces each trial's saved one. Returns one report
    line per trial."""
    from ray.tune.utils.serialization import TuneFunctionEncoder

    state_file = _newest(experiment_dir, "experiment_state-*.json")  # the one Tune resumes
    if state_file is None:
        raise ExperimentError(f"--resume: no experiment to resume in {experiment_dir}")
    state = json.loads(state_file.read_text())
    lines, trial_data = [], []
    for saved_state in state["trial_data"]:
        name, entry, line = _resume_trial_state(experiment_dir, saved_state, max_failures)
        lines.append(f"resume: {name}: {line}")
        trial_data.append(entry)
    saved = {json.loads(trial_json)["relative_logdir"] for trial_json, _ in trial_data}
    search_file = _newest(experiment_dir, "search_gen_state-*.json")
    adopted = []
    # Tune copies params.json into the trial folder when it saves; our flag is written at once.
    found = {
        p.parent for name in ("params.json", TRIAL_FLAG) for p in experiment_dir.glob(f"*/{name}")
    }
    for trial_dir in sorted(found):
        if trial_dir.name in saved:
            continue
        started = _started_state(trial_dir)
        if started is None or search_file is None:
            lines.append(
                f"resume: {trial_dir.name}: not in Tune's saved state (the run ended before "
                "Tune saved it); not resumed"
            )
            continue
        name, entry, line = _resume_trial_state(experiment_dir, started, max_failures)
        lines.append(f"resume: {name}: started after Tune's last state save; {line}")
        trial_data.append(entry)
        adopted.append(json.loads(entry[0])["trial_id"])
    if adopted:
        _count_as_created(search_file, adopted)
    state["trial_data"] = trial_data
    runner = state["runner_data"]
    # Decisions (such as "stop") that waited for a checkpoint that never finished.
    runner["_cached_trial_decisions"], runner["_queued_trial_decisions"] = {}, {}
    runner["_should_stop_experiment"] = False
    _write_atomically(state_file, json.dumps(state, cls=TuneFunctionEncoder))
    return lines


def _resume_trial_state(
    experiment_dir: Path, trial_state: list[str] | tuple[str, str], max_failures: int | None
) -> tuple[str, list[str], str]:
    """One trial's Tune state (trial and run metadata JSON) made to resume it: its folder name,
    the new state and the report line (see :func:`_resume_trial`)."""
    from ray.tune.trainable.metadata import _TrainingRunMetadata
    from ray.tune.utils.serialization import TuneFunctionEncoder, _loads_with_cloudpickle

    trial_json, metadata_json = trial_state
    trial = _loads_with_cloudpickle(trial_json)
    metadata = _TrainingRunMetadata.from_json_state(metadata_json)
    line = _resume_trial(experiment_dir / trial["relative_logdir"], trial, metadata)
    if max_failures is not None:
        trial["max_failures"] = max_failures
    entry = [json.dumps(trial, indent=2, cls=TuneFunctionEncoder), metadata.get_json_state()]
    return trial["relative_logdir"], entry, line


def _resume_trial(trial_dir: Path, trial: dict[str, Any], metadata: Any) -> str:
    """Point one trial's saved state at its newest complete checkpoint; a report line."""
    from ray.train._internal.session import _TrainingResult
    from ray.tune import Checkpoint

    checkpoints = trial_checkpoints(trial_dir)
    if trial_dir.is_dir() and not (trial_dir / TRIAL_FLAG).is_file():
        # A trial written before the markers: adopt the checkpoints its files show complete.
        for checkpoint in checkpoints:
            if checkpoint.problem is None:
                (checkpoint.path / MARKER).write_text("{}")
        (trial_dir / TRIAL_FLAG).touch()
    removed = []
    for checkpoint in checkpoints:
        if checkpoint.problem is not None:
            shutil.rmtree(checkpoint.path)
            removed.append(f"{checkpoint.path.name} ({checkpoint.problem})")
    rows = read_results(trial_dir)
    results = []
    for checkpoint in checkpoints:
        iteration = checkpoint_iteration(checkpoint.path) if checkpoint.problem is None else None
        if iteration is not None:
            metrics = _marked_result(checkpoint.path, iteration) or _row_of(iteration, rows)
            results.append((checkpoint, _TrainingResult(Checkpoint(str(checkpoint.path)), metrics)))
    manager = metadata.checkpoint_manager
    manager._checkpoint_results = [result for _, result in results]
    manager._latest_checkpoint_result = results[-1][1] if results else None
    newest, last = (results[-1][0], dict(results[-1][1].metrics)) if results else (None, {})
    iteration = last.get("training_iteration", 0)

    config = manager.checkpoint_config
    keeps_checkpoints = bool(config.checkpoint_frequency or config.checkpoint_at_end)
    removed_text = "; removed incomplete " + ", ".join(removed) if removed else ""
    if results:
        metadata.last_result = last  # also for the summary of a trial that finished
    if _stop_met(trial["stopping_criterion"], last) or (
        not keeps_checkpoints and trial["status"] == "TERMINATED"
    ):
        trial["status"] = "TERMINATED"
        return f"finished at iteration {last.get('training_iteration', 'n/a')}{removed_text}"
    trial["status"] = "PENDING"
    # The next checkpoint is numbered after the one resumed from (Tune counts up from here).
    trial["storage"].current_checkpoint_index = newest.index if newest else -1
    if newest is None:
        return f"no complete checkpoint; starts again from iteration 0{removed_text}"
    return f"continues from {newest.path.name} (iteration {iteration}){removed_text}"


def _newest(experiment_dir: Path, pattern: str) -> Path | None:
    """The newest of Tune's state files matching ``pattern`` (their names hold the start time)."""
    found = sorted(experiment_dir.glob(pattern))
    return found[-1] if found else None


def _started_state(trial_dir: Path) -> tuple[str, str] | None:
    """The trial's Tune state that :class:`CheckpointMarker` stored when it started."""
    try:
        state = json.loads((trial_dir / TRIAL_FLAG).read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(state, list) and len(state) == 2 and all(isinstance(s, str) for s in state)):
        return None
    return state[0], state[1]


def _count_as_created(search_file: Path, trial_ids: list[str]) -> None:
    """Record in Tune's saved search state (``SearchGenerator``'s) that the adopted trials were
    created, so that the restored search creates no others in their place."""
    from ray import cloudpickle

    state = cloudpickle.loads(search_file.read_bytes())
    state["counter"] += len(trial_ids)
    known = state.get(_ADOPTED_KEY, {}).get("trial_ids", [])
    state[_ADOPTED_KEY] = {"trial_ids": sorted({*known, *trial_ids})}
    partial = search_file.with_name(search_file.name + ".partial")
    partial.write_bytes(cloudpickle.dumps(state))
    os.replace(partial, search_file)


def _adopted_trial_ids(experiment_dir: Path) -> list[str]:
    """The trials that resumes of this experiment adopted (see :func:`_count_as_created`)."""
    from ray import cloudpickle

    search_file = _newest(experiment_dir, "search_gen_state-*.json")
    if search_file is None:
        return []
    state = cloudpickle.loads(search_file.read_bytes())
    return list(state.get(_ADOPTED_KEY, {}).get("trial_ids", []))


class _AdoptedTrials(Searcher):
    """Passes everything to ``searcher`` except the results of the trials that a resume adopted
    (:func:`prepare_resume`): the searcher never suggested them."""

    def __init__(self, searcher: Searcher, trial_ids: Iterable[str]) -> None:
        self.searcher = searcher
        self.trial_ids = set(trial_ids)
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        return _set_search_properties_backwards_compatible(
            self.searcher.set_search_properties, metric, mode, config, **spec
        )

    def suggest(self, trial_id: str) -> Any:
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self.trial_ids:
            self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        if trial_id not in self.trial_ids:
            self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def get_state(self) -> dict[str, Any]:
        return {"trial_ids": sorted(self.trial_ids)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.trial_ids |= set(state["trial_ids"])


#: The key of :class:`_AdoptedTrials`'s state in Tune's saved search state (SearchGenerator's).
_ADOPTED_KEY = f"name:{_AdoptedTrials.__name__}"


def checkpoint_iteration(path: Path) -> int | None:
    """The training iteration an algorithm checkpoint was taken after, from its state file."""
    import pickle

    try:
        with (path / "algorithm_state.pkl").open("rb") as f:
            return int(pickle.load(f)["training_iteration"])  # noqa: S301 - our own checkpoint
    except (OSError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError):
        return None


def _marked_result(path: Path, iteration: int) -> dict[str, Any] | None:
    """The results :class:`CheckpointMarker` stored with a checkpoint, if they are of its
    iteration (markers of adopted, older checkpoints are empty)."""
    try:
        result = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict) or result.get("training_iteration") != iteration:
        return None
    return result


def _row_of(iteration: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The results of ``iteration`` (the last such row: an older resume may have repeated it)."""
    same = [r for r in rows if r.get("training_iteration") == iteration]
    return same[-1] if same else {"training_iteration": iteration}


def _truncate_results(filesystem: Any, trial_dir: str, iteration: int) -> None:
    """Drop the rows after ``iteration`` from ``result.json`` and ``progress.csv`` in
    ``trial_dir`` (on a pyarrow ``filesystem``, None: the local one)."""
    import pyarrow.fs

    filesystem = filesystem or pyarrow.fs.LocalFileSystem()
    for name in _RESULT_FILES:
        path = f"{trial_dir}/{name}"
        if filesystem.get_file_info(path).type != pyarrow.fs.FileType.File:
            continue
        with filesystem.open_input_stream(path) as f:
            text = f.read().decode()
        kept = _rows_until(text, iteration, csv_file=name.endswith(".csv"))
        if kept != text:
            _write(filesystem, path, kept.encode())


def _rows_until(text: str, iteration: int, csv_file: bool) -> str:
    """The rows of a ``result.json`` or ``progress.csv`` text up to ``training_iteration``."""
    if not text.strip():
        return text
    if not csv_file:
        lines = text.splitlines(keepends=True)
        kept = []
        for line in lines:
            with contextlib.suppress(ValueError):
                if json.loads(line).get("training_iteration", 0) <= iteration:
                    kept.append(line)
        return "".join(kept)
    reader = csv.DictReader(io.StringIO(text))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [])
    writer.writeheader()
    for row in reader:
        with contextlib.suppress(ValueError, TypeError):
            if int(row.get("training_iteration") or 0) <= iteration:
                writer.writerow(row)
    return out.getvalue()


def _stop_met(criterion: dict[str, Any], result: dict[str, Any]) -> bool:
    """Tune's test of a dict stop criterion (``Trial.should_stop``) on nested results."""
    from ray._private.dict import flatten_dict

    flat = flatten_dict(result, delimiter="/")
    if flat.get("done"):
        return True
    return any(key in flat and flat[key] >= value for key, value in criterion.items())


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path``'s contents so that a crash leaves the old or the new file, never half."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def restore_tuner(
    experiment_dir: Path,
    trainable: Any,
    max_failures: int | None,
    callbacks: Iterable[Any] = (),
) -> tuple[Any, list[str]]:
    """``Tuner.restore`` after :func:`prepare_resume`, with ``max_failures`` when given, the
    checkpoint marker (a run saved before markers existed has no such callback) and
    ``callbacks`` in place of the saved ones of their types (e.g. fresh progress lines).
    Returns the tuner and the report lines."""
    from ray import tune

    lines = prepare_resume(experiment_dir, max_failures)
    tuner = tune.Tuner.restore(
        str(experiment_dir), trainable, resume_unfinished=True, resume_errored=True
    )
    adopted = _adopted_trial_ids(experiment_dir)
    tune_config = tuner._local_tuner._tune_config
    if adopted and isinstance(tune_config.search_alg, Searcher):
        tune_config.search_alg = _AdoptedTrials(tune_config.search_alg, adopted)
    # Tuner.restore takes the saved RunConfig and offers no way to change it.
    run_config = tuner._local_tuner.get_run_config()
    if max_failures is not None:
        run_config.failure_config = tune.FailureConfig(max_failures=max_failures)
    fresh = [*callbacks]
    saved = [c for c in run_config.callbacks or () if not any(type(c) is type(f) for f in fresh)]
    if not any(isinstance(c, CheckpointMarker) for c in [*saved, *fresh]):
        fresh.append(CheckpointMarker())
    run_config.callbacks = [*saved, *fresh]
    return tuner, lines
