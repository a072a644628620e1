"""Golden configuration cases: each directory here holds an ``httpd.conf`` (and any files
it includes), ``args`` (featherd's command-line flags, e.g. ``-S`` or ``-t -DFOO``) and
``expected``: the exit code, stdout and stderr of ``featherd -d CASE -f CASE/httpd.conf
ARGS``, with the case directory written as ``@ROOT@``.

The expected texts follow ``apache2 -t`` / ``apache2 -S`` (2.4.68, Debian) where 2.2 and
2.4 agree; where they differ featherd keeps 2.2's wording ("X not allowed here") and
2.4's -S shape (aliases and the run-time paths). Each case's ``README`` line says what it
checks. Regenerate after a deliberate change with ``FEATHERD_REGEN_GOLDEN=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
CASES = sorted(p.name for p in HERE.iterdir() if (p / "httpd.conf").exists())


def run_case(case: str, tmp_path: Path) -> str:
    root = tmp_path / case
    shutil.copytree(HERE / case, root)
    args = (root / "args").read_text().split() if (root / "args").exists() else ["-t"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATHERD_GOLDEN_")}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["FEATHERD_GOLDEN_VAR"] = "from-environment"
    p = subprocess.run([sys.executable, "-m", "featherd", "-d", str(root), "-f",
                        str(root / "httpd.conf"), *args], capture_output=True, text=True,
                       env=env, timeout=60, cwd=str(root))
    out = f"rc={p.returncode}\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}"
    return out.replace(str(root), "@ROOT@")


def test_there_are_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tmp_path: Path) -> None:
    got = run_case(case, tmp_path)
    exp = HERE / case / "expected"
    if os.environ.get("FEATHERD_REGEN_GOLDEN"):
        exp.write_text(got)
    assert got == exp.read_text()
