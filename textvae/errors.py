"""The one exception type that reaches the user as a single line instead of a traceback."""


class UserError(Exception):
    """Bad input from the user (a file, a config value, a model folder): the command line prints
    `textvae: error: <message>` and exits with status 2. The message says what, where and what to do."""
