"""Subcommands imported only when run, so ``wan-engine --help`` and ``models`` start fast and work on a plain install.

Each command group lives in its own module; importing them all at start-up
would load aiohttp, rich's live views, the sandbox and (for ``record`` and
``contract``) vcrpy and PyYAML, which a plain ``pip install wan-engine`` does
not have. The help line of each lazy command is kept here so ``--help`` lists
them without importing anything.
"""

from __future__ import annotations

import importlib

import click

EXTRA_HINT = "`wan-engine {name}` needs the cassettes extra: pip install 'wan-engine[cassettes]' (missing: {module})"
OPTIONAL_MODULES = {"vcr", "yaml"}
"""Third-party modules that only the ``cassettes`` extra installs."""


class LazyGroup(click.Group):
    """A click group whose listed subcommands are ``module:attribute`` paths, imported on first use."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy or {}
        """name -> (``module:attribute``, one-line help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        target, help_line = self.lazy[cmd_name]
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name not in OPTIONAL_MODULES:
                raise
            return _needs_extra(cmd_name, help_line, exc.name)
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, with lazy commands described from the table: ``--help`` imports nothing."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
            else:
                rows.append((name, self.lazy[name][1]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _needs_extra(name: str, help_line: str, module: str | None) -> click.Command:
    """A stand-in that says in one line what to install, and exits 2 (a set-up error)."""

    def explain() -> None:
        click.echo(EXTRA_HINT.format(name=name, module=module), err=True)
        raise SystemExit(2)

    return click.Command(
        name,
        callback=explain,
        help=help_line,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
