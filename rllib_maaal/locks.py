"""One ``rllib train`` per experiment folder.

Two ``rllib train`` on one ``STORAGE_PATH/NAME`` would write into
the same trial folders and state files. :func:`lock_experiments` takes an ``fcntl.flock`` on
:data:`LOCK_FILE` in each experiment folder; the kernel releases it when the process dies, so a
crashed run never blocks the next one. The file holds the owner's PID and host, for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from rllib_maaal.experiment import ExperimentError

#: In an experiment folder: locked by the ``rllib train`` that runs the experiment.
LOCK_FILE = ".rllib_train.lock"


class _Lock:
    """An exclusive ``flock`` on ``EXPERIMENT/LOCK_FILE``, refused with one line while another
    process holds it."""

    def __init__(self, experiment_dir: Path) -> None:
        experiment_dir.mkdir(parents=True, exist_ok=True)
        self.path = experiment_dir / LOCK_FILE
        self.file = self.path.open("a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            owner = self.file.read().strip() or "another process"
            self.file.close()
            raise ExperimentError(
                f"experiment {experiment_dir} is being trained by {owner}; wait for it to end "
                "(or stop it), or give this run another name or --storage-path"
            ) from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        self.file.flush()

    def release(self) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


@contextlib.contextmanager
def lock_experiments(experiment_dirs: Iterable[Path]) -> Iterator[None]:
    """Hold the lock of every experiment folder while the block runs (see :class:`_Lock`)."""
    with contextlib.ExitStack() as stack:
        for experiment_dir in experiment_dirs:
            stack.callback(_Lock(experiment_dir).release)
        yield
