"""A sink described as data: what a journal stores and a resumed process rebuilds the sink from.

A configuration, not a sink: plugin name, plain options, and secrets
*referenced* by environment variable name, so it can be written to a journal
(or a job queue) and copied or attached to a bug report without leaking a
key. ``sink_from_name(config.plugin, **config.build_options(env))`` builds it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from wan_engine import plugins
from wan_engine.errors import MissingSecretError, UsageError

_SECRET_NAME = re.compile(r"secret|password|passwd|token|credential|api_?key|access_key|private", re.IGNORECASE)


def _check_options(_instance: object, _attribute: object, options: Mapping[str, Any]) -> None:
    for name in options:
        if _SECRET_NAME.search(name):
            raise UsageError(
                f"sink option {name!r} looks like a secret and would be written to the journal; "
                f"pass it as secret_env={{{name!r}: 'ENV_VAR_NAME'}} instead"
            )


@attrs.frozen
class SinkConfig:
    """A sink as the journal keeps it: plugin name, plain options, secrets by env var name.

    ``SinkConfig("webhook", {"url": "https://example.com/hook"}, secret_env={"secret": "HOOK_SECRET"})``
    builds ``WebhookSink(url=..., secret=os.environ["HOOK_SECRET"])`` when the
    job is delivered, now or after a restart.
    """

    plugin: str
    options: Mapping[str, Any] = attrs.field(factory=dict, validator=_check_options)
    secret_env: Mapping[str, str] = attrs.field(factory=dict)
    name: str | None = None
    """The sink's name in this job (unique per job); defaults to ``options['name']``, else the plugin name."""

    @property
    def sink_name(self) -> str:
        return self.name or str(self.options.get("name") or self.plugin)

    def check(self) -> None:
        """Raise ``UnknownPluginError`` if no sink plugin has this name or takes these options.

        Reads no secret and builds nothing: it is meant to run before a paid submit, so a
        misspelt sink or option is refused while nothing has been paid for yet.
        """
        plugins.check("sink", self.plugin, {*self.options, *self.secret_env, "name"})

    def build_options(self, env: Mapping[str, str]) -> dict[str, Any]:
        """The keyword options for the plugin, secrets read from ``env`` now (never stored)."""
        options = {**self.options, "name": self.sink_name}
        for option, variable in self.secret_env.items():
            if variable not in env:
                raise MissingSecretError(
                    f"sink {self.sink_name!r} needs the environment variable {variable} for {option}: set it"
                )
            options[option] = env[variable]
        return options

    def as_dict(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "options": dict(self.options), "secret_env": dict(self.secret_env)}
