"""bench/scenarios.py builds configurations that featherd (and apache2, when installed)
accept with -t. No server is started and no load is generated."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


def load() -> ModuleType:
    if not (BENCH / "scenarios.py").exists() or not (BENCH / "run.py").exists():
        pytest.skip("bench/scenarios.py or bench/run.py missing")
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("featherd_bench_scenarios",
                                                      BENCH / "scenarios.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod          # dataclasses look their module up
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


scen = load()


def config_test(argv: list[str], env: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    argv = [x for x in argv if x != "-DFOREGROUND"] + ["-t"]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("name", sorted(scen.PLANS))
def test_bench_scenario_configs_parse(name: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "auth-bcrypt":
        pytest.importorskip("bcrypt")
    monkeypatch.setattr(scen, "HTPASSWD_USERS", 5)        # 1,000 bcrypt hashes take seconds
    os.chmod(tmp_path, 0o755)
    plan = scen.PLANS[name](tmp_path, argparse.Namespace(threads=0))
    assert plan.name == name and plan.path.startswith("/") and plan.targets
    kinds = {t.kind for t in plan.targets}
    if name != "ab-ceiling":
        assert {"featherd", "apache2"} <= kinds
    checked = 0
    for t in plan.targets:
        if isinstance(t.server, str):
            continue                                      # apache2/nginx not installed
        assert t.conf is not None and t.conf.exists()
        if t.kind == "featherd":
            r = config_test(t.server.argv, t.server.env)
            assert r.returncode == 0 and "Syntax OK" in r.stdout + r.stderr, r.stdout + r.stderr
            checked += 1
        elif t.kind == "apache2":
            r = config_test(t.server.argv, None)
            assert r.returncode == 0, r.stdout + r.stderr
    if name != "ab-ceiling" or "featherd" in kinds:
        assert checked == 1


def test_bench_scenario_docroots(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    (tmp_path / "rw").mkdir()
    plan = scen.plan_rewrite(tmp_path / "rw", argparse.Namespace(threads=0))
    docroot = next(t for t in plan.targets if t.kind == "featherd").conf.read_text()
    assert "AllowOverride All" in docroot
    rules = [ln for ln in scen.HTACCESS.splitlines() if ln.startswith("RewriteRule")]
    assert len(rules) == 10
    text = scen.text_100k()
    assert len(text) == 100 * 1024 and scen.text_100k() == text
    ok = scen.expect_body(b"abc")
    assert ok(200, {}, b"abc") is None and ok(404, {}, b"abc") is not None
