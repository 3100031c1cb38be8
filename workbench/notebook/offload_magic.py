"""``%offload``: a thin line magic over :func:`workbench.functions.offload`.

``%offload zlib.crc32 numpy.linalg.norm [--placement WHERE]`` starts offloading those
functions and keeps it on (a line magic has no block to end); ``%offload --off [NAMES]``
puts the originals back (all of them without names); ``%offload`` alone lists what is
offloaded now. In a script, use ``with wb.offload(...):`` instead.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..errors import WorkbenchError
from ..functions.offload import active
from ..functions.offload import offload as start_offload


@magic_arguments()
@argument("names", nargs="*", metavar="NAME", help="package.module.function, e.g. zlib.crc32")
@argument("--placement", default="auto", metavar="WHERE",
          help="auto, compute, storage or a worker address")
@argument("--off", action="store_true", help="stop offloading NAMEs (all without names)")
def offload(line: str) -> Any:
    """Run unmodified code's calls to NAMEs on the cluster until ``%offload --off``."""
    try:
        args = parse_argstring(offload, line)
    except UsageError as exc:
        raise UsageError(f"%offload: {exc}.\nUsage: %offload NAME ... [--placement WHERE] "
                         "| %offload --off [NAME ...]") from None
    now = active()
    if args.off:
        for name in args.names or list(now):
            if name not in now:
                raise UsageError(f"%offload --off {name}: it is not offloaded (offloaded: "
                                 f"{', '.join(now) or 'nothing'}).")
            now[name].stop(name)
        return None
    if not args.names:
        print("\n".join(f"{n}: {o.calls[n]} calls offloaded, placement={o.placement!r}"
                        for n, o in now.items()) or "nothing offloaded")
        return None
    try:
        return start_offload(*args.names, placement=args.placement).start()
    except WorkbenchError as exc:
        raise UsageError(str(exc)) from None
