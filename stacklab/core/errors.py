"""The one exception type that reaches a user as a single clear line."""


class UserError(Exception):
    """Bad input or an unreachable service: says what is wrong and what to do.

    The CLI prints ``stacklab: error: <message>`` and exits with status 2, no
    traceback. Raise it with a message of the form "<what is wrong>: <what to do>".
    """


def require(condition: bool, message: str) -> None:
    """Raise UserError(message) unless condition holds."""
    if not condition:
        raise UserError(message)
