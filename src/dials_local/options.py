"""Settings declared once, with their command-line options beside them.

A settings dataclass declares each field that ``dials-local serve`` takes on its command
line with :func:`setting` (default, help text, option group, argparse type, metavar).  From
that declaration :func:`add_arguments` adds the options to the parser (flag
``--<field name with dashes>``, default = the field's default) and :func:`from_arguments`
builds the settings back from the parsed arguments, so that a setting's name, default and
help are written in one place.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

#: The key of a field's metadata that holds its :class:`CommandLine` declaration.
_METADATA_KEY = "dials_local.command_line"

SettingsT = TypeVar("SettingsT")


@dataclass(frozen=True)
class OptionGroup:
    """A titled group of options in ``--help``."""

    title: str
    description: str


@dataclass(frozen=True)
class CommandLine:
    """How one setting is given on the command line."""

    help: str
    group: OptionGroup
    #: The argparse type (a converter that raises ``ArgumentTypeError``); text if ``None``.
    type: Callable[[str], Any] | None = None
    metavar: str | None = None


def setting(
    default: Any,
    help: str,
    group: OptionGroup,
    *,
    type: Callable[[str], Any] | None = None,
    metavar: str | None = None,
) -> Any:
    """A settings field with ``default`` that is also a ``dials-local serve`` option
    (``dataclasses.field`` with the option in its metadata)."""
    metadata: Mapping[str, CommandLine] = {_METADATA_KEY: CommandLine(help, group, type, metavar)}
    return dataclasses.field(default=default, metadata=metadata)


def flag(field: dataclasses.Field[Any]) -> str:
    """The option of a field: ``access_ttl`` -> ``--access-ttl``."""
    return "--" + field.name.replace("_", "-")


def command_line_fields(
    settings_class: type[Any],
) -> Iterator[tuple[dataclasses.Field[Any], CommandLine]]:
    """The fields of ``settings_class`` that have an option, in declaration order."""
    for field in dataclasses.fields(settings_class):
        option = field.metadata.get(_METADATA_KEY)
        if option is not None:
            yield field, option


def add_arguments(parser: argparse.ArgumentParser, settings_class: type[Any]) -> None:
    """Add the options of ``settings_class``'s fields to ``parser``, in their groups."""
    defaults = settings_class()
    groups: dict[OptionGroup, argparse._ArgumentGroup] = {}
    for field, option in command_line_fields(settings_class):
        group = groups.get(option.group)
        if group is None:
            group = parser.add_argument_group(option.group.title, option.group.description)
            groups[option.group] = group
        extra: dict[str, Any] = {}
        if option.type is not None:
            extra["type"] = option.type
        if option.metavar is not None:
            extra["metavar"] = option.metavar
        group.add_argument(
            flag(field),
            dest=field.name,
            default=getattr(defaults, field.name),
            help=option.help,
            **extra,
        )


def from_arguments(settings_class: type[SettingsT], args: argparse.Namespace) -> SettingsT:
    """``settings_class`` with every field that has an option taken from ``args`` (the
    others keep their defaults)."""
    values = {
        field.name: getattr(args, field.name) for field, _ in command_line_fields(settings_class)
    }
    return settings_class(**values)
