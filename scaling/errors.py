"""The one exception type for mistakes a user can fix: the CLI turns it into one message and exit code 2."""


class UserError(Exception):
    """Bad input a user can cause (config, file, column, mesh); the message names the field and what is valid."""

    exit_code = 2
