"""Experiment configuration: one YAML file per experiment, everything else defaulted.

* Each method declares its defaults once, as a nested dict (its ``DEFAULTS``).
* A YAML experiment file overrides some of them. It may start from another file with
  ``_base_: other.yaml`` (path relative to the file), as mmengine configs do.
* ``key=value`` arguments on the command line override both (``optim.lr=3e-4``); the value is
  parsed as YAML, so ``true``, ``1e-4``, ``[1, 2]`` and ``null`` mean what they look like.
* A key that the defaults do not have is an error that names the valid keys at that level,
  and a value of the wrong type (text where a number belongs) is an error too.
* The resolved config is saved as ``config.yaml`` in every run directory.
"""

from __future__ import annotations

import argparse
import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from easydict import EasyDict

from . import fileio
from .errors import EXIT_USER_ERROR, UserError, debug_active

BASE_KEY = "_base_"
REPO_ROOT = Path(__file__).resolve().parents[1]


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``3_2`` as the integer 32; here digits joined by ``_`` stay text (fold names)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(0|[1-9][0-9]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"),
    list("-+0123456789."))


def _yaml_load(text: str):
    return yaml.load(text, Loader=_Loader)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line: what the YAML parser found wrong, and where (1-based line and column)."""
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"{where}{problem}"


class ConfigError(UserError, ValueError):
    """A config file or override that does not fit the defaults."""


class Typed:
    """A default that says its type where the value alone cannot: ``None`` defaults, bounds, choices.

    ``Typed(float, None)`` is a number or null; ``Typed(int, 8, low=1)`` a whole number of at least 1;
    ``Typed(str, "crops", choices=("crops", "online"))`` one of the words given; ``Typed(list, [], item=str)``
    a list of text. The loaded config
    holds the plain value; the type stays with the defaults and checks every file and override.
    """

    def __init__(self, kind: type, default: Any = None, low: float | None = None, high: float | None = None,
                 choices: Sequence[Any] | None = None, nullable: bool | None = None, item: type | None = None) -> None:
        self.kind, self.default, self.low, self.high, self.item = kind, default, low, high, item
        self.choices = tuple(choices) if choices is not None else None
        self.nullable = default is None if nullable is None else nullable

    def __repr__(self) -> str:
        return repr(self.default)

    def check(self, key: str, value: Any, source: str) -> Any:
        if value is None:
            if not self.nullable:
                raise ConfigError(f"{source}: {key} may not be null")
            return None
        if self.kind is list:
            example = [self.item()] if self.item is not None else []
            return _check_type(key, example, value, source)
        value = _check_type(key, self.kind(), value, source)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{source}: {key} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.low is not None and value < self.low:
            raise ConfigError(f"{source}: {key} must be at least {self.low}, got {value!r}")
        if self.high is not None and value > self.high:
            raise ConfigError(f"{source}: {key} must be at most {self.high}, got {value!r}")
        return value


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "true/false"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, float):
        return "a number"
    return "text"


def _check_scalar(key: str, default: Any, value: Any, source: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true/false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} must be a whole number, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        # Let numbers stand for strings where the default is text (e.g. protocol: 1 -> "1").
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{source}: {key} must be text, got {value!r}")
    return value


def _check_type(key: str, default: Any, value: Any, source: str) -> Any:
    if isinstance(default, Typed):
        return default.check(key, value, source)
    if value is None:
        raise ConfigError(f"{source}: {key} may not be null (give {_type_name(default)})")
    if isinstance(default, Sequence) and not isinstance(default, str):
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        if default:  # items like the default's items
            return [_check_scalar(f"{key}[{i}]", default[0], v, source) for i, v in enumerate(value)]
        return list(value)
    return _check_scalar(key, default, value, source)


def materialise(defaults: Mapping[str, Any]) -> dict:
    """The plain values of a defaults tree (:class:`Typed` entries replaced by their default)."""
    out = {}
    for key, value in defaults.items():
        if isinstance(value, Mapping):
            out[key] = materialise(value)
        else:
            out[key] = copy.deepcopy(value.default if isinstance(value, Typed) else value)
    return out


def merge(schema: Mapping[str, Any], update: Mapping[str, Any], source: str, prefix: str = "",
          current: Mapping[str, Any] | None = None) -> dict:
    """``current`` (default: the schema's own values) updated by ``update``, checked against ``schema``.

    An unknown key and a value of the wrong type raise :class:`ConfigError` naming the key.
    """
    out = materialise(schema) if current is None else copy.deepcopy(dict(current))
    if not isinstance(update, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {update!r}")
    for key, value in update.items():
        full = f"{prefix}{key}"
        if key not in schema:
            valid = ", ".join(sorted(schema)) or "(none)"
            where = f" in section '{prefix[:-1]}'" if prefix else ""
            raise ConfigError(f"{source}: unknown config key '{full}'{where}. Valid keys: {valid}")
        if isinstance(schema[key], Mapping):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: '{full}' is a section; give its keys ({', '.join(schema[key])})")
            out[key] = merge(schema[key], value, source, prefix=f"{full}.", current=out[key])
        else:
            out[key] = _check_type(full, schema[key], value, source)
    return out


def read_yaml_with_bases(path: str | Path) -> dict:
    """Read a YAML experiment file, resolving ``_base_`` chains (later files win)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = _yaml_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values")
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    return deep_update(read_yaml_with_bases(path.parent / base), data)


def deep_update(base: dict, update: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_update(dict(out[k]), v)
        else:
            out[k] = v
    return out


def parse_override(text: str) -> dict:
    """``'optim.lr=1e-3'`` -> ``{'optim': {'lr': 0.001}}``."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key=value (e.g. train.max_iters=100)")
    key, raw = text.split("=", 1)
    try:
        value = _yaml_load(raw) if raw != "" else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{text}': the value is not valid YAML: {_yaml_problem(e)}") from None
    node: dict = {}
    parts = key.strip().split(".")
    cur = node
    for p in parts[:-1]:
        cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = value
    return node


def load_config(
    defaults: Mapping[str, Any], path: str | Path | None = None, overrides: Sequence[str] = ()
) -> EasyDict:
    """Defaults, then the experiment file, then command-line overrides; validated throughout."""
    cfg = materialise(defaults)
    if path:
        cfg = merge(defaults, read_yaml_with_bases(path), source=str(path), current=cfg)
    for text in overrides:
        cfg = merge(defaults, parse_override(text), source=f"command line '{text}'", current=cfg)
    return EasyDict(cfg)


def to_plain(obj: Any) -> Any:
    """EasyDict / tuples -> plain dicts and lists (for YAML and checkpoints)."""
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def save_config(cfg: Mapping[str, Any], path: str | Path) -> None:
    fileio.atomic_write_text(path, yaml.safe_dump(to_plain(cfg), sort_keys=False))


def describe_defaults(defaults: Mapping[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for k, v in defaults.items():
        if isinstance(v, Mapping):
            lines.extend(describe_defaults(v, f"{prefix}{k}."))
        else:
            lines.append(f"  {prefix}{k} = {v!r}")
    return lines


def repo_path(path: str | Path) -> Path:
    """A path relative to the repository root (where the default configs live), unless absolute or present here."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return REPO_ROOT / p


def config_argparser(description: str, defaults: Mapping[str, Any],
                     default_config: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with ``--config FILE`` and ``key=value`` overrides; --help lists keys."""
    used = f" (default: {default_config})" if default_config else ""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys and defaults (override with key=value):\n" + "\n".join(describe_defaults(defaults)),
    )
    parser.add_argument("--config", "-c", default=None, help=f"YAML experiment file{used}")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.max_iters=100")
    parser.add_argument("--debug", action="store_true", help="show the traceback of errors in the input too")
    return parser


def config_from_cli(description: str, defaults: Mapping[str, Any], argv: Sequence[str] | None = None,
                    parser: argparse.ArgumentParser | None = None,
                    default_config: str | None = None) -> tuple[EasyDict, argparse.Namespace]:
    """Parse ``--config`` and ``key=value`` (in any order with the other options) and load the config.

    Without ``--config`` the method's ``default_config`` is used (the demo experiment), so
    ``python -m dum.train`` and ``bash dum/train.sh`` train the same thing.
    """
    parser = parser or config_argparser(description, defaults, default_config)
    args = parser.parse_intermixed_args(argv)
    if args.config is None and default_config:
        args.config = str(repo_path(default_config))
    try:
        bad = [o for o in args.overrides if "=" not in o]
        if bad:
            raise ConfigError(f"'{bad[0]}' is not an option nor a key=value override (see --help)")
        return load_config(defaults, args.config, args.overrides), args
    except ConfigError as e:
        if args.debug or debug_active():
            raise
        parser.exit(EXIT_USER_ERROR, f"config error: {e}\n")
