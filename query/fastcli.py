"""A typer app that starts fast.

Measured on this machine (``python -X importtime``, 15-run medians): a bare
interpreter starts in ~33 ms, ``import typer`` in ~85 ms, but any typer 0.2x
command takes ~350 ms: when it parses the command line, typer builds a pydantic
TypeAdapter for every parameter (importing pydantic alone costs ~75 ms, building
the adapters the rest).  rich is not the cost: typer imports it only to print
help and errors in colour, and ``rich_markup_mode=None`` keeps it out.

For the plain parameter types our commands use (str, int, float, bool) the
coercion is a call to the type, so we hand typer a plain coercer for those
before it parses; anything else still goes through typer's own machinery.  With
typer versions that do not coerce through pydantic the hook finds nothing to
replace and does nothing.
"""

from __future__ import annotations

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.2x: per-parameter runtime coercion objects
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam
except ImportError:  # older typer: click types, already fast
    RuntimeParam = None

_PLAIN = (str, int, float, bool)

if RuntimeParam is not None:

    class _PlainParam(RuntimeParam):
        """Coerces a command-line string with the type itself, checking min/max."""

        def _coerce_value(self, value, param, ctx):
            kind = self.annotation
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                try:
                    value = _BOOL[value.lower()] if kind is bool else kind(value)
                except (ValueError, KeyError, AttributeError):
                    raise BadParameter(f"{value!r} is not a valid {kind.__name__}.", ctx=ctx, param=param)
            info = self.parameter_info
            if kind in (int, float):
                if info.min is not None and value < info.min:
                    raise BadParameter(f"{value} is smaller than the minimum {info.min}.", ctx=ctx, param=param)
                if info.max is not None and value > info.max:
                    raise BadParameter(f"{value} is larger than the maximum {info.max}.", ctx=ctx, param=param)
            return value

    _BOOL = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _install_plain_coercion(command, ctx) -> None:
    if RuntimeParam is None:
        return
    for p in command.get_params(ctx):
        d = getattr(p, "type_descriptor", None)
        if d is None or getattr(p, "_runtime_param", "absent") is not None:
            continue
        info = d.parameter_info
        if d.annotation in _PLAIN and info.parser is None and not getattr(info, "clamp", False):
            p._runtime_param = _PlainParam(parameter_info=info, annotation=d.annotation)


class FastCommand(TyperCommand):
    def parse_args(self, ctx, args):
        _install_plain_coercion(self, ctx)
        return super().parse_args(ctx, args)


class FastGroup(TyperGroup):
    def parse_args(self, ctx, args):
        _install_plain_coercion(self, ctx)
        return super().parse_args(ctx, args)


def app(**kw) -> typer.Typer:
    """A typer.Typer whose commands coerce plain parameters without pydantic."""
    kw.setdefault("rich_markup_mode", None)
    kw.setdefault("pretty_exceptions_enable", False)
    kw.setdefault("add_completion", False)
    return typer.Typer(cls=FastGroup, **kw)


def command(application: typer.Typer, *args, **kw):
    kw.setdefault("cls", FastCommand)
    return application.command(*args, **kw)
