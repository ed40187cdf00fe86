"""Command-line options generated from a config dataclass (one declaration per hyperparameter).

:func:`config_options` adds one ``--option-name`` per field of a config class
to a Typer command, typed from the field and helped by its help text and
default; the command receives the options the user actually gave as one
``settings`` dict (spaCy-style overrides over defaults or a ``--config`` file).
"""
from __future__ import annotations

import functools
import importlib
import inspect
import typing
from dataclasses import fields
from typing import List, Optional

import typer

from rltune.config import defaults, option_name

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def config_options(cls, exclude: tuple = ()):
    def decorate(fn):
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn)  # resolved in the command's module
        params = [p.replace(annotation=hints.get(name, p.annotation)) for name, p in sig.parameters.items()
                  if name != "settings"]
        added, parsers = [], {}
        for f in fields(cls):
            if f.name in exclude:
                continue
            repeat = f.metadata.get("repeat")
            help_text = f.metadata.get("help", "")
            if f.metadata.get("parse"):
                parsers[f.name] = _function(f.metadata["parse"])
            if repeat:
                option = typer.Option([], repeat, help=help_text, rich_help_panel="Settings")
                annotation = List[str]
            else:
                kind = f.type if isinstance(f.type, str) else f.type.__name__
                option = typer.Option(None, option_name(f.name), rich_help_panel="Settings",
                                      help=f"{help_text} (default: {defaults(cls)[f.name]!r})")
                annotation = Optional[_TYPES[kind]]
            added.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))

        @functools.wraps(fn)
        def wrapper(**kwargs):
            settings = {}
            for p in added:
                value = kwargs.pop(p.name)
                if value is None or value == []:
                    continue
                settings[p.name] = parsers[p.name](value) if p.name in parsers else value
            return fn(**kwargs, settings=settings)

        del wrapper.__wrapped__
        wrapper.__signature__ = sig.replace(parameters=params + added)
        wrapper.__annotations__ = {p.name: p.annotation for p in params + added}
        return wrapper
    return decorate


def _function(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)
