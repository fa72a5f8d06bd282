"""One YAML loader for every file the project reads: YAML 1.2 floats (`1e-3` is a number) and clear errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from scaling.errors import UserError


class _Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 float rule; PyYAML's 1.1 rule reads `1e-3` as a string."""


_FLOAT_1_2 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in list("-+0123456789."):
    _Loader.yaml_implicit_resolvers.setdefault(_first, [])
    _Loader.yaml_implicit_resolvers[_first] = [
        (tag, rx) for tag, rx in _Loader.yaml_implicit_resolvers[_first] if tag != "tag:yaml.org,2002:float"
    ]
    _Loader.yaml_implicit_resolvers[_first].insert(0, ("tag:yaml.org,2002:float", _FLOAT_1_2))


def loads(text: str, source: str = "<string>") -> Any:
    """Parse YAML text; a syntax error becomes a UserError naming the source and line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{source}:{where}: not valid YAML ({problem})") from None


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from a file; a missing, empty or non-mapping file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    data = loads(path.read_text(), source=str(path))
    if data is None:
        raise UserError(f"{path}: the file is empty; expected a YAML mapping of settings")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a YAML mapping of settings at the top level, got {type(data).__name__}")
    return data


def parse_scalar(text: str) -> Any:
    """Parse one `--set` value the way YAML would (numbers, booleans, lists)."""
    return loads(text, source="--set")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides to a nested mapping (new keys allowed; the schema judges them)."""
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, for example optimizer.lr=3e-3")
        key, _, raw = item.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise UserError(f"--set {item!r}: the key is empty")
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UserError(f"--set {key}: {part!r} is not a mapping, so it has no field {parts[-1]!r}")
            node = child
        node[parts[-1]] = parse_scalar(raw)
    return data
