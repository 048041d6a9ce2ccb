"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class FercleanError(Exception):
    """A problem with the user's input (missing folder, bad manifest, unknown class...).

    The message must be a complete sentence a user can act on: the CLI prints it on one
    line and exits with status 1, never with a traceback.
    """
