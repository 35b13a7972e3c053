"""Edit ``rules.yaml`` from a form: build a draft, validate it as ``config check`` does, apply
it atomically and record who did it, or revert to an earlier recorded version.

A draft is validated by :func:`monitor.config.load.load_config` on a private copy of the
config directory, so its errors are exactly those of ``critmon config check`` (file, key path,
line); the copy's path is replaced by the real file's in the message.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from monitor.config.load import CONFIG_FILES, Config, default_config_dir, load_config, parse_yaml
from monitor.core.errors import ConfigError
from monitor.core.untrusted import clean_text
from monitor.ops.jobs import record_config
from monitor.store.database import Store

log = logging.getLogger(__name__)

RULES_FILE = "rules.yaml"
MAX_FIELD = 2000


@dataclass
class Draft:
    """The form's values turned into a rules.yaml text, or the first problem found."""

    text: str
    fields: dict[str, str]
    error: str = ""
    error_line: int | None = None
    config: Config | None = None
    changed: list[str] = field(default_factory=list)


def form_fields(config: Config) -> dict[str, str]:
    """The form's initial values from the running config."""
    risk = config.rules.risk
    values = {
        "weight_structural": _num(risk.weights.structural),
        "weight_market": _num(risk.weights.market),
        "weight_policy": _num(risk.weights.policy),
        "hysteresis": _num(risk.hysteresis),
    }
    for index, level in enumerate(risk.levels):
        values[f"level_{index}_name"] = level.name
        values[f"level_{index}_min"] = _num(level.min)
    for rule in config.rules.rules:
        params = rule.detector.params()
        if "thresholds" in params:
            thresholds = params["thresholds"]
            values[f"rule_{rule.name}_thresholds"] = ", ".join(
                _num(t) for t in (thresholds if isinstance(thresholds, list | tuple)
                                  else [thresholds]))
        values[f"rule_{rule.name}_levels"] = ", ".join(rule.levels)
    for index, (mineral, rule, params) in enumerate(_override_rows(config)):
        values[f"override_{index}_mineral"] = mineral
        values[f"override_{index}_rule"] = rule
        values[f"override_{index}_params"] = params
    return values


def _override_rows(config: Config) -> list[tuple[str, str, str]]:
    return [(mineral, rule, yaml.safe_dump(params, default_flow_style=True, width=1000).strip())
            for mineral, per_rule in sorted(config.rules.overrides.items())
            for rule, params in sorted(per_rule.items())]


def _num(value: float) -> str:
    return f"{value:g}"


def build_draft(config: Config, form: Mapping[str, str]) -> Draft:
    """A rules.yaml text with the form's levels, weights, thresholds and overrides."""
    fields = {k: clean_text(v, limit=MAX_FIELD) for k, v in form.items()
              if isinstance(v, str) and _is_rule_field(k)}
    path = config.origins[RULES_FILE]
    _, data = parse_yaml(config.texts[RULES_FILE], path)
    risk = data.setdefault("risk", {})
    risk["weights"] = {name: _number(fields.get(f"weight_{name}", ""))
                       for name in ("structural", "market", "policy")}
    if fields.get("hysteresis", "").strip():
        risk["hysteresis"] = _number(fields["hysteresis"])
    levels = []
    for index in range(12):
        name = fields.get(f"level_{index}_name", "").strip()
        if name:
            levels.append({"name": name, "min": _number(fields.get(f"level_{index}_min", ""))})
    risk["levels"] = levels
    for rule in data.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        name = rule.get("name")
        thresholds = fields.get(f"rule_{name}_thresholds")
        if thresholds is not None and isinstance(rule.get("detector"), dict):
            rule["detector"]["thresholds"] = [_number(t) for t in thresholds.split(",")
                                              if t.strip()]
        levels_text = fields.get(f"rule_{name}_levels")
        if levels_text is not None:
            rule["levels"] = [x.strip() for x in levels_text.split(",") if x.strip()]
    overrides, problem = _overrides(fields)
    if problem:
        return Draft(config.texts[RULES_FILE], fields, error=f"{path}: overrides: {problem}")
    data["overrides"] = overrides
    text = _dump(data)
    return Draft(text, fields)


def _is_rule_field(name: str) -> bool:
    return name.startswith(("weight_", "level_", "rule_", "override_")) or name == "hysteresis"


def _number(text: str) -> Any:
    """A number when the text is one, else the text itself (validation then names the key)."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
        else value


def _overrides(fields: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], str]:
    found: dict[str, dict[str, Any]] = {}
    for index in range(200):
        mineral = fields.get(f"override_{index}_mineral", "").strip()
        rule = fields.get(f"override_{index}_rule", "").strip()
        params = fields.get(f"override_{index}_params", "").strip()
        if not (mineral and rule and params):
            continue
        try:
            _, value = parse_yaml(params, "override")
        except ConfigError as exc:
            return {}, f"{mineral}.{rule}: {exc.detail}"
        found.setdefault(mineral, {})[rule] = value
    return found, ""


def _dump(data: dict[str, Any]) -> str:
    header = ("# Written by the critmon web console (the previous text, with its comments, is "
              "kept in\n# the config history: critmon config history; revert from the Rules "
              "page).\n")
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def validate(config: Config, texts: Mapping[str, str], target_dir: Path) -> Config:
    """Load ``texts`` (every config file) as ``config check`` would; ConfigError with the
    real file's path when invalid."""
    with tempfile.TemporaryDirectory(prefix="critmon-draft-") as tmp:
        for name in CONFIG_FILES:
            Path(tmp, name).write_text(texts[name], encoding="utf-8")
        try:
            return load_config(tmp)
        except ConfigError as exc:
            file = exc.file or ""
            name = Path(file).name
            real = str(target_dir / name) if name in CONFIG_FILES else file
            raise ConfigError(exc.detail.replace(tmp, str(target_dir)), file=real,
                              key=exc.key, line=exc.line) from None


def check_draft(config: Config, draft: Draft, config_dir: Path) -> Draft:
    """Validate the draft; fill ``config`` and ``changed`` or ``error``/``error_line``."""
    if draft.error:
        return draft
    texts = {**config.texts, RULES_FILE: draft.text}
    try:
        draft.config = validate(config, texts, config_dir)
    except ConfigError as exc:
        draft.error = str(exc)
        draft.error_line = exc.line
        return draft
    draft.changed = [n for n in CONFIG_FILES if texts[n] != config.texts[n]]
    return draft


def writable_dir(config_dir: Path) -> Path:
    """The directory the console may write; ConfigError for the shipped defaults."""
    if config_dir.resolve() == default_config_dir().resolve():
        raise ConfigError(
            "the running config is the one shipped in the package; write it out with "
            "`critmon config init DIR` and start critmon with --config DIR to edit it here")
    return config_dir


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once (a reader sees the old file or the new)."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def apply(store: Store, current: Config, new: Config, config_dir: Path, *, author: str,
          origin: str, now: datetime) -> list[str]:
    """Write the files of ``new`` that differ, record the version with its author; return the
    names written."""
    target = writable_dir(config_dir)
    written = []
    for name in CONFIG_FILES:
        if new.texts[name] != current.texts[name]:
            write_atomically(target / name, new.texts[name])
            written.append(name)
    if written:
        record_config(store, new, now, origin=origin, author=author)
        log.info("config %s by %s from the web console: %s (digest %s)", origin, author,
                 ", ".join(written), new.digest[:12])
    return written


def version_texts(store: Store, version_id: int) -> dict[str, str]:
    files = store.config_version_files(version_id)
    if files is None:
        raise ConfigError(f"no config version {version_id} in the history")
    missing = [n for n in CONFIG_FILES if n not in files]
    if missing:
        raise ConfigError(f"config version {version_id} lacks {', '.join(missing)}")
    return {n: files[n] for n in CONFIG_FILES}
