"""hnnlib.memory: glibc's allocator keeps freed blocks; the trained weights do not change."""

import os
import platform
import subprocess
import sys

import pytest

from hnnlib.memory import KEEP_FREED_MEMORY_ENV_VAR

TRAIN = (
    "import hashlib, torch\n"
    "from hnnlib.memory import keep_freed_memory\n"
    "from hnnlib.models import HNN\n"
    "from hnnlib.training import fit\n"
    "torch.manual_seed(0)\n"
    "x, dx = torch.randn(750, 2), torch.randn(750, 2)\n"
    "model = HNN(2)\n"
    "fit(model, x, dx, steps=30, progress=False)\n"
    "digest = hashlib.sha256(b''.join(v.numpy().tobytes() for v in model.state_dict().values()))\n"
    "print(keep_freed_memory(), digest.hexdigest())\n"
)


def run(setting: str) -> tuple[str, str]:
    env = dict(os.environ, **{KEEP_FREED_MEMORY_ENV_VAR: setting})
    out = subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True, check=True, env=env)
    in_force, digest = out.stdout.split()
    return in_force, digest


def test_same_weights_with_and_without_and_the_switch_works():
    kept, switched_off = run("1"), run("0")
    assert switched_off[0] == "False"
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert kept[0] == str(glibc)
    assert kept[1] == switched_off[1]  # where memory comes from never changes a value


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux only")
def test_idempotent():
    from hnnlib.memory import keep_freed_memory

    assert keep_freed_memory() == keep_freed_memory()
