"""Which GPUs this machine has, and which of them each worker of a pool may see.

A worker sees only its GPUs through `CUDA_VISIBLE_DEVICES`, set before the
worker imports TensorFlow or JAX. A fractional `gpus_per_trial` packs several
workers on one GPU; then each framework is told to allocate memory as it
needs it instead of claiming the whole device.

Example::

    plan = GPUPlan(gpus_per_trial=0.5, gpus=["0", "1"])
    plan.slots                   # 4 workers fit: two per GPU
    plan.environment(3)          # {"CUDA_VISIBLE_DEVICES": "1", "TF_FORCE_GPU_ALLOW_GROWTH": "true", ...}
"""

import math
import numbers
import os
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence

# Memory growth instead of preallocation, for trials that share a GPU.
SHARING_ENVIRONMENT = {"TF_FORCE_GPU_ALLOW_GROWTH": "true",
                       "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def visible_gpus() -> List[str]:
    """The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` names them.

    `CUDA_VISIBLE_DEVICES` when it is set (empty or "-1": none), else the
    indices `nvidia-smi -L` lists, else none.
    """
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        gpus = []
        for name in (v.strip() for v in value.split(",")):
            if not name or name.startswith("-"):
                break  # CUDA stops enumerating at the first invalid entry.
            gpus.append(name)
        return gpus
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return []
    try:
        listing = subprocess.run([nvidia_smi, "-L"], capture_output=True, text=True, timeout=20,
                                 check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split(":", 1)[0].split()[1] for line in listing.splitlines()
            if line.startswith("GPU ") and ":" in line]


def describe_detection() -> str:
    """How `visible_gpus` found what it found, for error messages."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        return f"CUDA_VISIBLE_DEVICES={value!r}"
    if shutil.which("nvidia-smi") is None:
        return "CUDA_VISIBLE_DEVICES is not set and there is no nvidia-smi"
    return "CUDA_VISIBLE_DEVICES is not set; from `nvidia-smi -L`"


class GPUPlan:
    """Assigns GPUs to worker slots: slot i always gets the same GPU(s).

    Args:
      gpus_per_trial: GPUs each trial needs. 0: trials run on the CPU (on a
        machine with GPUs, workers see none, so that they do not all claim GPU
        memory). A whole number n >= 1: each trial gets n GPUs of its own. A
        fraction in (0, 1): floor(1 / fraction) trials share each GPU, with
        memory growth on. None: GPUs are not managed (workers see what this
        process sees).
      gpus: the GPU names to hand out; default `visible_gpus()`.

    Raises:
      ValueError: a negative, non-numeric or fractional-above-one value, or
        more GPUs per trial than the machine has.
    """

    def __init__(self, gpus_per_trial: Optional[float] = 0, gpus: Optional[Sequence[str]] = None):
        if gpus_per_trial is not None:
            if (isinstance(gpus_per_trial, bool) or not isinstance(gpus_per_trial, numbers.Real)
                    or not math.isfinite(gpus_per_trial) or gpus_per_trial < 0):
                raise ValueError(f"gpus_per_trial must be a number >= 0 (0 for CPU trials, a "
                                 f"fraction such as 0.5 to share a GPU, or a whole number of "
                                 f"GPUs), got {gpus_per_trial!r}.")
            if gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial):
                raise ValueError(f"gpus_per_trial above 1 must be a whole number of GPUs, got "
                                 f"{gpus_per_trial!r} (a trial cannot use part of a second GPU).")
        self.gpus_per_trial = gpus_per_trial
        detected = gpus is None
        self.gpus = [str(g) for g in (visible_gpus() if detected else gpus)]
        if gpus_per_trial and not self.gpus:
            where = describe_detection() if detected else "gpus=[]"
            raise ValueError(f"gpus_per_trial={gpus_per_trial!r} but no GPU is visible ({where}); "
                             "use gpus_per_trial=0 for CPU trials.")
        if gpus_per_trial and gpus_per_trial > len(self.gpus):
            raise ValueError(f"gpus_per_trial={gpus_per_trial!r} but only {len(self.gpus)} GPU(s) "
                             f"are visible: {','.join(self.gpus)}.")

    @property
    def sharing(self) -> bool:
        return bool(self.gpus_per_trial) and self.gpus_per_trial < 1

    @property
    def slots(self) -> Optional[int]:
        """How many workers can hold GPUs at once (None: no GPUs assigned)."""
        if not self.gpus_per_trial:
            return None
        if self.sharing:
            return len(self.gpus) * self.trials_per_gpu
        return len(self.gpus) // int(self.gpus_per_trial)

    @property
    def trials_per_gpu(self) -> int:
        # A small epsilon: 1 / (1/3) is 3.0000000000000004 or 2.9999999999999996.
        return int(math.floor(1.0 / self.gpus_per_trial + 1e-9)) if self.sharing else 1

    def assigned(self, slot: int) -> List[str]:
        """The GPU names worker `slot` sees."""
        if not self.gpus_per_trial:
            return []
        if self.sharing:
            return [self.gpus[slot // self.trials_per_gpu]]
        n = int(self.gpus_per_trial)
        return self.gpus[slot * n:(slot + 1) * n]

    def environment(self, slot: int) -> Dict[str, str]:
        """The environment variables worker `slot` starts with (before it imports TF/JAX)."""
        if self.gpus_per_trial is None:
            return {}
        if not self.gpus_per_trial:
            return {"CUDA_VISIBLE_DEVICES": ""} if self.gpus else {}
        environment = {"CUDA_VISIBLE_DEVICES": ",".join(self.assigned(slot))}
        if self.sharing:
            environment.update(SHARING_ENVIRONMENT)
        return environment
