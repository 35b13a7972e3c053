"""Configuration: YAML files in one directory, validated into frozen pydantic models.

A config directory holds ``minerals.yaml``, ``sources.yaml``, ``rules.yaml`` and
``alerting.yaml``. A file missing from a user's directory falls back to the default shipped in
the package, so a directory may override only what it changes. Every error is a
:class:`ConfigError` naming the file, the key path and, where the YAML parser knows it, the line.

A config file is read as if it were hostile: at most ``MAX_CONFIG_BYTES``; YAML aliases (the
"billion laughs"), duplicate keys and nesting deeper than ``MAX_NESTING`` are refused while the
file is composed, before any value is built; every duration and size has bounds; and an error
quotes at most ``QUOTE_MAX`` characters of a value.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import (
    BaseModel,
    SecretStr,
    ValidationError,
)

from detectors.spec import check_spec
from monitor.config.alerting import AlertingFile
from monitor.config.common import QUOTE_MAX, quote
from monitor.config.minerals import Mineral, MineralsFile
from monitor.config.perspectives import US, Perspective, build_perspectives, mineral_names
from monitor.config.rules import Rule, RulesFile
from monitor.config.sources import SourcesFile
from monitor.core.errors import ConfigError
from monitor.core.untrusted import clean_text

_M = TypeVar("_M", bound=BaseModel)


CONFIG_FILES = ("minerals.yaml", "sources.yaml", "rules.yaml", "alerting.yaml")


#: A config file is a few kilobytes (the shipped minerals.yaml, the largest, is 28 KB).
MAX_CONFIG_BYTES = 2**20

#: Deeper YAML nesting than any config needs; bounds the composer's recursion.
MAX_NESTING = 40

#: The most characters of any config error message.
MESSAGE_MAX = 400



# --------------------------------------------------------------------------- the whole config


@dataclass(frozen=True)
class Config:
    """A complete, validated configuration and where each file came from."""

    minerals: MineralsFile
    sources: SourcesFile
    rules: RulesFile
    alerting: AlertingFile
    origins: dict[str, str]
    texts: dict[str, str]
    secrets: dict[str, SecretStr] = field(default_factory=dict, repr=False)
    #: The economies whose supply security is scored (``rules.yaml`` ``perspectives:``).
    perspectives: tuple[Perspective, ...] = (US,)

    @property
    def mineral_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.minerals.minerals)

    def mineral(self, mineral_id: str) -> Mineral:
        for mineral in self.minerals.minerals:
            if mineral.id == mineral_id:
                return mineral
        raise KeyError(mineral_id)

    def perspective(self, perspective_id: str) -> Perspective:
        for perspective in self.perspectives:
            if perspective.id == perspective_id:
                return perspective
        raise KeyError(perspective_id)

    @property
    def perspective_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.perspectives)

    @property
    def perspective_files(self) -> tuple[Path, ...]:
        """The users' perspective tables this config read (a change to one is a config change)."""
        return tuple(Path(f) for p in self.perspectives for f in p.files)

    @property
    def digest(self) -> str:
        """A hash of the four files' text (and of any perspective table they name): equal
        digests mean an equal config."""
        sha = hashlib.sha256()
        for name in CONFIG_FILES:
            sha.update(name.encode() + b"\0" + self.texts[name].encode() + b"\0")
        for perspective in self.perspectives:
            if perspective.files:
                sha.update(perspective.digest.encode() + b"\0")
        return sha.hexdigest()



def default_config_dir() -> Path:
    """The config shipped inside the package."""
    return Path(str(importlib.resources.files("monitor") / "defaults"))



def resolve_config_dir(explicit: str | os.PathLike[str] | None,
                       environ: Mapping[str, str] | None = None) -> Path:
    """Pick the config directory: ``--config``, ``CRITMON_CONFIG``, ~/.config/critmon, defaults."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("CRITMON_CONFIG"):
        return Path(environ["CRITMON_CONFIG"])
    if environ.get("CONFIGURATION_DIRECTORY"):  # systemd ConfigurationDirectory=
        return Path(environ["CONFIGURATION_DIRECTORY"].split(":")[0])
    user_dir = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "critmon"
    return user_dir if user_dir.is_dir() else default_config_dir()



def load_config(directory: str | os.PathLike[str] | None = None, *,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and cross-check the four config files; raise ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    base = Path(directory) if directory else default_config_dir()
    if not base.is_dir():
        raise ConfigError(f"config directory {base} does not exist")
    texts, origins = _read_files(base)
    nodes: dict[str, yaml.Node | None] = {}
    data: dict[str, dict[str, Any]] = {}
    for name in CONFIG_FILES:
        nodes[name], data[name] = parse_yaml(texts[name], origins[name])
    minerals = _validate(MineralsFile, data, nodes, origins, "minerals.yaml")
    sources = _validate(SourcesFile, data, nodes, origins, "sources.yaml")
    rules = _validate(RulesFile, data, nodes, origins, "rules.yaml")
    alerting = _validate(AlertingFile, data, nodes, origins, "alerting.yaml")
    config = Config(minerals, sources, rules, alerting, origins, texts)
    _check_cross_references(config, nodes)
    _resolve_trade_codes(config)
    perspectives = _build_perspectives(config, Path(origins["rules.yaml"]).parent,
                                       nodes["rules.yaml"])
    secrets = _resolve_secrets(config, nodes, environ)
    secrets.update(_resolve_source_urls(config, nodes, environ))
    return Config(minerals, sources, rules, alerting, origins, texts, secrets, perspectives)


def _build_perspectives(config: Config, base: Path,
                        node: yaml.Node | None) -> tuple[Perspective, ...]:
    """The perspectives rules.yaml lists; their tables are relative to rules.yaml's directory."""
    path = config.origins["rules.yaml"]

    def where(index: int) -> tuple[str, int | None]:
        return path, _line_of(node, ["perspectives", index])

    known = mineral_names((m.id, m.name) for m in config.minerals.minerals)
    return build_perspectives(config.rules.perspectives, base, known, parse_yaml, where)



def _read_files(base: Path) -> tuple[dict[str, str], dict[str, str]]:
    texts: dict[str, str] = {}
    origins: dict[str, str] = {}
    defaults = default_config_dir()
    for name in CONFIG_FILES:
        path = base / name
        if not path.exists():
            path = defaults / name
        texts[name] = _read_bounded(path)
        origins[name] = str(path)
    return texts, origins



def _read_bounded(path: Path) -> str:
    """The text of a config file, refusing one over ``MAX_CONFIG_BYTES`` without reading it all."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"the file is larger than {MAX_CONFIG_BYTES // 2**20} MiB; a config "
                              "file is a few kilobytes", file=str(path))
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or type(exc).__name__}",
                          file=str(path)) from None



class _RefusedYAML(yaml.MarkedYAMLError):
    """Valid YAML that a config file may not use (aliases, duplicate keys, deep nesting)."""



class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python event source, for an install without libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)



try:  # libyaml's parser makes the events five times faster; composing stays ours
    from yaml.cyaml import CParser as _EventSource
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _EventSource = _PyParser  # type: ignore[misc,assignment]



class ConfigLoader(yaml.composer.Composer, _EventSource, yaml.constructor.SafeConstructor,
                   yaml.resolver.Resolver):
    """A safe loader (SafeConstructor) that refuses, while composing, so before any value is
    built:

    - aliases (``*name``): a few hundred bytes of nested aliases expand to gigabytes (the
      "billion laughs"), and a config has no need for them;
    - a key given twice in one mapping (YAML says keys are unique; PyYAML keeps the last);
    - nesting deeper than ``MAX_NESTING`` (the composer recurses once per level).

    Values that cannot be built (``2024-13-45`` read as a date) are errors with a line too.
    """

    def __init__(self, stream: str) -> None:
        _EventSource.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _RefusedYAML(problem=f"YAML aliases (*{clean_text(event.anchor, limit=20)}) "
                                       "are not allowed in config files: write the value out",
                               problem_mark=event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _RefusedYAML(problem=f"nested deeper than {MAX_NESTING} levels",
                                   problem_mark=self.peek_event().start_mark)
            return yaml.composer.Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        node = yaml.composer.Composer.compose_mapping_node(self, anchor)
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in first_line:
                raise _RefusedYAML(
                    problem=f"duplicate key {quote(key_node.value)} (first on line "
                            f"{first_line[key_node.value]})", problem_mark=key_node.start_mark)
            first_line[key_node.value] = key_node.start_mark.line + 1
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:  # e.g. a date 2024-13-45, a 5000-digit int
            raise yaml.constructor.ConstructorError(
                problem=f"cannot read this value: {clean_text(exc, limit=QUOTE_MAX)}",
                problem_mark=node.start_mark) from None



def parse_yaml(text: str, path: str) -> tuple[yaml.Node | None, dict[str, Any]]:
    """Compose ``text`` (for line numbers) and build its top-level mapping, or ConfigError."""
    loader = ConfigLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path) from None
    finally:
        loader.dispose()
    if data is None:
        return node, {}
    if not isinstance(data, dict):
        raise ConfigError("the file must contain a mapping at the top level", file=path)
    return node, data



def _yaml_error(exc: yaml.YAMLError, path: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else None
    problem = clean_text(getattr(exc, "problem", None) or exc, limit=MESSAGE_MAX - 20)
    if isinstance(exc, _RefusedYAML):
        return ConfigError(problem, file=path, line=line)
    return ConfigError(f"invalid YAML: {problem}", file=path, line=line)



def _validate(model: type[_M], data: Mapping[str, dict[str, Any]],
              nodes: Mapping[str, yaml.Node | None], origins: Mapping[str, str],
              name: str) -> _M:
    try:
        return model.model_validate(data[name])
    except ValidationError as exc:
        raise _config_error(exc, origins[name], nodes[name]) from None



def _config_error(exc: ValidationError, path: str, node: yaml.Node | None) -> ConfigError:
    """Turn pydantic's first error into a ConfigError with key path and line.

    The message and key path are bounded: a value or key from the file is quoted at most
    ``QUOTE_MAX`` characters long, the message ``MESSAGE_MAX``.
    """
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = _from_defaults([part for part in first["loc"] if not _is_union_tag(part)], node)
    ctx = first.get("ctx") or {}
    message = first["msg"].removeprefix("Value error, ")
    for value in ctx.values():
        if isinstance(value, str) and len(value) > QUOTE_MAX:
            message = message.replace(value, clean_text(value, limit=QUOTE_MAX))
    if first["type"] == "extra_forbidden":
        message = f"unknown key {quote(loc[-1])}" if loc else "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    elif first["type"] == "union_tag_invalid":
        discriminator = str(ctx.get("discriminator", "kind")).strip("'")
        loc = [*loc, discriminator]
        message = (f"unknown {discriminator} {quote(ctx.get('tag', ''))}: use one of "
                   f"{ctx.get('expected_tags', '')}")
    more = len(errors) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(clean_text(message, limit=MESSAGE_MAX), file=path,
                       key=_key_path(loc) or None, line=_line_of(node, loc))



def _from_defaults(loc: list[Any], node: yaml.Node | None) -> list[Any]:
    """``sources.N.key`` -> ``defaults.key`` when the source took ``key`` from ``defaults:``."""
    if len(loc) < 3 or loc[0] != "sources" or not isinstance(loc[1], int):
        return loc
    source = _child(_child(node, "sources"), loc[1])
    if source is None or _child(source, loc[2]) is not None:
        return loc
    return ["defaults", *loc[2:]] if _child(_child(node, "defaults"), loc[2]) else loc



def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (part in {"fred_csv", "pinksheet", "table", "console",
                                               "file", "slack", "email", "alertmanager",
                                               "config", "rss",
                                               "federal_register", "html_list",
                                               "shipped", "imf_pcps"}
                                      or part.startswith("function-"))



def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """Walk the composed YAML tree along ``loc``; return the line of the deepest node found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line



def _child(node: yaml.Node | None, part: object) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                return value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None



def _check_cross_references(config: Config, nodes: Mapping[str, yaml.Node | None]) -> None:
    """Every mineral id used in sources and rules must exist in minerals.yaml."""
    known = set(config.mineral_ids)
    path = config.origins["sources.yaml"]
    node = nodes["sources.yaml"]
    for index, source in enumerate(config.sources.sources):
        for suffix, mineral in source.minerals_referenced():
            if mineral not in known:
                loc: list[Any] = ["sources", index, *suffix.split(".")]
                raise ConfigError(_unknown_mineral(mineral, known), file=path,
                                  key=_key_path(loc), line=_line_of(node, loc))
    _check_rule_minerals(config, known, nodes["rules.yaml"])



def _resolve_trade_codes(config: Config) -> None:
    """Give each trade source the HS codes of its minerals (from minerals.yaml)."""
    codes = {m.id: m.hs_codes for m in config.minerals.minerals}
    for source in config.sources.sources:
        resolve = getattr(source, "resolve_hs", None)
        if resolve is not None:
            resolve(codes)


def _check_rule_minerals(config: Config, known: set[str], node: yaml.Node | None) -> None:
    path = config.origins["rules.yaml"]
    for index, rule in enumerate(config.rules.rules):
        if rule.minerals == "all":
            continue
        for position, mineral in enumerate(rule.minerals):
            if mineral not in known:
                loc: list[Any] = ["rules", index, "minerals", position]
                raise ConfigError(_unknown_mineral(mineral, known), file=path,
                                  key=_key_path(loc), line=_line_of(node, loc))
    rules = {rule.name: rule for rule in config.rules.rules}
    for mineral, per_rule in config.rules.overrides.items():
        if mineral not in known:
            loc = ["overrides", mineral]
            raise ConfigError(_unknown_mineral(mineral, known), file=path,
                              key=_key_path(loc), line=_line_of(node, loc))
        for rule_name, override in per_rule.items():
            loc = ["overrides", mineral, rule_name]
            problem = _override_problem(rules.get(rule_name), rule_name, override)
            if problem:
                raise ConfigError(clean_text(problem, limit=MESSAGE_MAX), file=path,
                                  key=_key_path(loc), line=_line_of(node, loc))



def _override_problem(rule: Rule | None, rule_name: str, override: dict[str, Any]) -> str | None:
    """Why a per-mineral override cannot apply, or None when it builds a valid detector."""
    if rule is None:
        return f"no rule named {quote(rule_name)} to override"
    params = {k: v for k, v in override.items() if k not in ("enabled", "levels")}
    try:
        check_spec(rule.detector.kind, {**rule.detector.params(), **params})
    except ValueError as exc:
        return str(exc)
    return None



def _unknown_mineral(mineral: str, known: set[str]) -> str:
    close = sorted(k for k in known if k.startswith(mineral[:3]))[:3]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown mineral {quote(mineral)}{hint}"



def _key_path(loc: Iterable[object]) -> str:
    return ".".join(clean_text(part, limit=QUOTE_MAX) for part in loc)



def _resolve_secrets(config: Config, nodes: Mapping[str, yaml.Node | None],
                     environ: Mapping[str, str]) -> dict[str, SecretStr]:
    """Resolve every secret reference now, so a missing one fails at load, not at send."""
    credentials_dir = environ.get("CREDENTIALS_DIRECTORY")
    secrets: dict[str, SecretStr] = {}
    path = config.origins["alerting.yaml"]
    node = nodes["alerting.yaml"]
    for index, receiver in enumerate(config.alerting.receivers):
        for key in ("token", "webhook_url", "password", "bearer_token"):
            ref = getattr(receiver.config, key, None)
            if ref is None:
                continue
            try:
                secrets[f"{receiver.name}.{key}"] = ref.resolve(environ, credentials_dir)
            except ValueError as exc:
                loc = ["receivers", index, key]
                raise ConfigError(clean_text(f"secret {ref.describe()}: {exc}", limit=MESSAGE_MAX),
                                  file=path, key=_key_path(loc),
                                  line=_line_of(node, loc)) from None
    return secrets



def _resolve_source_urls(config: Config, nodes: Mapping[str, yaml.Node | None],
                         environ: Mapping[str, str]) -> dict[str, SecretStr]:
    """Resolve the ``${ENV_VAR}`` references in source URLs; return the values as secrets.

    Each source gets its :attr:`~_SourceBase.fetch_url`; the values join ``Config.secrets`` so
    every redaction (delivery errors, notifier errors) covers them as well.
    """
    secrets: dict[str, SecretStr] = {}
    for index, source in enumerate(config.sources.sources):
        values: dict[str, str] = {}
        for name in source.url_references:
            value = environ.get(name)
            if not value:
                loc = ["sources", index, "url"]
                raise ConfigError(f"environment variable {name} is not set (the url refers to "
                                  f"${{{name}}})", file=config.origins["sources.yaml"],
                                  key=_key_path(loc), line=_line_of(nodes["sources.yaml"], loc))
            values[name] = value
            secrets[f"sources.{source.id}.url.{name}"] = SecretStr(value)
        if values:
            source.resolve_url(values)
    return secrets
