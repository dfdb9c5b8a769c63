"""One exception type for problems the user can fix.

The CLI turns a :class:`SiamkitError` into a single line on stderr and exit code 2, so every
message must name the file, folder or option at fault and say what to do about it. Anything
else that escapes is a bug in siamkit, not in the user's input.
"""


class SiamkitError(Exception):
    """A user-facing error: bad input file, bad option, incompatible model folder."""

    exit_code = 2
