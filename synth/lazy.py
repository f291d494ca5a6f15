"""Lazy package exports (PEP 562): a package names its public API without importing it.

A package's `__init__` that imported its modules would make every `import synth.<stage>.<module>`
pay for the whole stage (torch, numba, trimesh): `synth --help`, `synth validate` and config loading
import several packages for one small module each. Names are imported on first use instead.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, modules: dict[str, tuple[str, ...]]
) -> tuple[dict[str, str], Callable[[str], Any], Callable[[], list[str]]]:
    """({name: defining module}, `__getattr__`, `__dir__`) for `package`, whose public names `modules`
    lists under the module that defines them (their one home). A name, once imported, is cached in the
    package. A name that is also its module's name (`synth.annotate.project.project`) is imported now:
    loading the submodule later would bind the package attribute to the module instead."""
    namespace = sys.modules[package].__dict__
    api = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in api:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(api[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(namespace.get("__all__", api))

    for name, module in api.items():
        if module == f"{package}.{name}":
            __getattr__(name)
    return api, __getattr__, __dir__
