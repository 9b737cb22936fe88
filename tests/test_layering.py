"""Import layering: the gossip core is sans-I/O and the packages point one way.

* ``gossip/`` never imports asyncio, socket, time or the global ``random`` functions,
  except the asyncio driver (``gossip/udp.py`` and its ``stream_io.py`` and
  ``channel_driver.py``);
* ``gossip/`` and ``api/`` never import ``node/``; ``gossip/`` never imports ``api/``;
* ``api/`` never imports ``gossip/``: the REST layer speaks its own models, and what
  needs the core's rules (the ``near=`` order by Vivaldi distance) is asked of the view
  (``ClusterView.nearest_first``), which ``node/`` implements over gossip;
* ``simulations/`` never imports ``tests/`` (tests use the simulator, not the reverse).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IO_MODULES = {"asyncio", "socket", "time", "selectors", "threading", "subprocess"}
DRIVER = {ROOT / "gossip" / name for name in ("udp.py", "stream_io.py", "channel_driver.py")}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                pkg = path.parent.relative_to(ROOT).parts
                base = list(pkg[: len(pkg) - (node.level - 1)])
                module = ".".join(base + ([module] if module else []))
            out.append((module, [a.name for a in node.names]))
    return out


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []


@pytest.mark.parametrize("path", _files("gossip"), ids=lambda p: p.name)
def test_gossip_core_is_sans_io(path: Path) -> None:
    if path in DRIVER:
        return
    for module, names in _imports(path):
        top = module.split(".")[0]
        assert top not in IO_MODULES, f"{path.name} imports {module}"
        if top == "random":
            # random.Random (the type, for injection) is fine; module-level functions are not
            assert names and set(names) <= {"Random"}, f"{path.name} uses global random: {names}"
    src = path.read_text(encoding="utf-8")
    for call in ("random.random(", "random.choice(", "random.shuffle(", "random.randint(",
                 "random.uniform(", "random.sample(", "random.randrange(", "random.seed("):
        assert call not in src, f"{path.name} calls the global {call}"


@pytest.mark.parametrize("path", _files("gossip") + _files("api"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_gossip_and_api_never_import_node(path: Path) -> None:
    for module, _ in _imports(path):
        assert module.split(".")[0] != "node", f"{path} imports {module}"


@pytest.mark.parametrize("path", _files("gossip"), ids=lambda p: p.name)
def test_gossip_never_imports_api(path: Path) -> None:
    for module, _ in _imports(path):
        assert module.split(".")[0] != "api", f"{path.name} imports {module}"


@pytest.mark.slow
def test_importing_gossip_does_not_pull_in_asyncio() -> None:
    import subprocess
    import sys
    code = "import sys, gossip, gossip.protocol; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("path", _files("api"), ids=lambda p: p.name)
def test_api_never_imports_gossip(path: Path) -> None:
    for module, _ in _imports(path):
        assert module.split(".")[0] != "gossip", f"api/{path.name} imports {module}"


@pytest.mark.slow
def test_importing_every_api_module_loads_neither_gossip_nor_node() -> None:
    """The same rule at run time: no import hidden from the scan (a lazy or dynamic one)
    happens at import time either."""
    import subprocess
    import sys
    modules = [f"api.{p.stem}" for p in _files("api") if p.parent.name == "api" and p.stem != "__init__"]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gossip', 'node')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("path", _files("simulations"), ids=lambda p: str(p.relative_to(ROOT)))
def test_simulations_never_import_tests(path: Path) -> None:
    for module, _ in _imports(path):
        assert module.split(".")[0] != "tests", f"{path.relative_to(ROOT)} imports {module}"
