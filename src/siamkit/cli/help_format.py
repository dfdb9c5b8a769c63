"""How ``siamkit ... --help`` reads: help texts shown as written, names as in the usage line.

Typer renders help through Rich, whose markup parser takes ``[default: 160]`` in a help text for a
style tag and drops it: "Square input size in pixels [default: 160]." used to print as
"Square input size in pixels ." and nobody could see a default. Our help texts hold no markup,
so every one is escaped once, here, instead of relying on each author to remember.

Typer also prints required arguments as ``{data}`` in the usage line and types every flag as
``<bool>``; arguments get an upper-case name (``DATA``, ``QUERIES...``) and flags no type, as in
click and most Unix tools.
"""

from __future__ import annotations

import typer.core

_RICH = bool(getattr(typer.core, "HAS_RICH", False))


def tidy_parameters(command) -> None:
    """Escape the help texts of ``command`` and its parameters; name arguments, untype flags."""
    escape = _rich_escape() if _RICH and getattr(command, "rich_markup_mode", None) == "rich" else None
    if escape is not None and command.help:
        command.help = escape(command.help)
    for param in command.params:
        if escape is not None and getattr(param, "help", None):
            param.help = escape(param.help)
        if param.param_type_name == "argument" and param.metavar is None:
            param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
        elif getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # Typer prints a flag's metavar instead of its type: nothing at all


def _rich_escape():
    from rich.markup import escape

    return escape


def usage_pieces(command, ctx) -> list[str]:
    """``[OPTIONS] MODEL QUERIES...``: arguments by name, optional ones in brackets."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            pieces.extend(param.get_usage_pieces(ctx))
        elif param.required:
            pieces.append(param.metavar)
        else:
            pieces.append(f"[{param.metavar}]")
    return pieces


def _untyped(option):
    if option is not None and option.metavar is None:
        option.metavar = ""
    return option


class SiamkitCommand(typer.core.TyperCommand):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        tidy_parameters(self)

    def collect_usage_pieces(self, ctx) -> list[str]:
        return usage_pieces(self, ctx)

    def get_help_option(self, ctx):
        return _untyped(super().get_help_option(ctx))


class SiamkitGroup(typer.core.TyperGroup):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        tidy_parameters(self)

    def get_help_option(self, ctx):
        return _untyped(super().get_help_option(ctx))
