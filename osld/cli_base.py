"""How every ``osld`` command looks and fails: plain click-style help, commands in the order users need them,
one-line errors. Exit codes: 0 success, 2 usage error (bad option, missing argument, wrong value), 1 everything
else (unreadable input, missing model, failed images under ``--strict``), 130 on Ctrl-C.

typer's rich output frames errors in multi-line boxes and prints a ``<bool>`` placeholder after flags; plain
mode (``rich_markup_mode=None``) gives the classic click layout, and ``OsldGroup.main`` turns click's three-line
usage errors into one line. typer has no option for the last details (``{inputs}...`` in the usage line, lower-case
positionals and the ``<list[Path]>`` type after them), so ``_tidy_arguments`` adjusts those display methods.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import typer
from typer._click import exceptions as click_exc
from typer.core import TyperArgument, TyperGroup, TyperOption

# How often a user needs each command; unknown names keep their registration order after these.
COMMAND_ORDER = ("detect", "register", "registry", "evaluate", "serve", "report", "discover", "synth", "train",
                 "bench")

TYPER_STYLE: dict[str, Any] = {"rich_markup_mode": None, "pretty_exceptions_enable": False,
                               "add_completion": False}


def _tidy_arguments() -> None:
    def usage_name(self: TyperArgument) -> str:  # click's style: INPUTS... / [INPUTS]...
        name = self.display_name_raw.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def help_type(self: TyperArgument, ctx: Any) -> str | None:  # the name and help say what a positional is
        return None

    def help_name(self: TyperArgument) -> str:  # same spelling as in the usage line
        return self.display_name_raw.upper() + ("..." if self.nargs != 1 else "")

    option_type = TyperOption.display_type_rich

    def repeatable_type(self: TyperOption, ctx: Any) -> str | None:  # `--data <list[Path]>` -> `--data <path>`
        shown = option_type(self, ctx)
        return re.sub(r"<list\[(\w+)\]>", lambda m: f"<{m.group(1).lower()}>", shown) if shown else shown

    TyperOption.display_type_rich = repeatable_type
    if hasattr(TyperArgument, "_usage_display_name"):
        TyperArgument._usage_display_name = usage_name
    if hasattr(TyperArgument, "_rich_display_name"):
        TyperArgument._rich_display_name = help_name
    TyperArgument.display_type_rich = help_type


_tidy_arguments()


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class OsldGroup(TyperGroup):
    """Top-level group: ordered command list and one-line usage errors (exit 2)."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(self.commands)
        rank = {n: i for i, n in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), names.index(n)))

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exc.NoArgsIsHelpError as e:  # bare `osld` / `osld train`: the help itself
            typer.echo(e.ctx.get_help() if e.ctx else str(e), err=True)
            sys.exit(2)
        except click_exc.UsageError as e:
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            typer.echo(f"error: {one_line(e.format_message())}{hint}", err=True)
            sys.exit(2)
        except click_exc.ClickException as e:
            typer.echo(f"error: {one_line(e.format_message())}", err=True)
            sys.exit(1)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        # non-standalone click returns the exit code of a typer.Exit, else the command's return value (None)
        sys.exit(rv if isinstance(rv, int) else 0)


# Default data paths of the training and evaluation commands: the team's shared data beside the project root.
# Only those commands' defaults point here; runtime code never reads it.
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def fail(err: Exception) -> NoReturn:
    """Print an expected error as one red line and exit 1."""
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def setup_logging() -> None:
    import logging

    logging.basicConfig(format="%(levelname)s: %(message)s", level=logging.INFO)
    logging.getLogger("faiss").setLevel(logging.WARNING)  # faiss logs its loader at INFO
