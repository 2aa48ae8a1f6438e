"""The export's failures, each with its exit code and a message for the operator."""

EXIT_OK = 0
EXIT_BAD_FILTER = 2
EXIT_UNKNOWN_TEAM = 3
EXIT_ENGINE = 4
EXIT_OUTPUT = 5
EXIT_INTERRUPTED = 6


class ExportError(Exception):
    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


def bad_filter(message: str) -> ExportError:
    return ExportError(EXIT_BAD_FILTER, message)


def unknown_team(message: str) -> ExportError:
    return ExportError(EXIT_UNKNOWN_TEAM, message)


def engine_down(message: str) -> ExportError:
    return ExportError(EXIT_ENGINE, message)


def output_error(message: str) -> ExportError:
    return ExportError(EXIT_OUTPUT, message)


def interrupted(message: str) -> ExportError:
    return ExportError(EXIT_INTERRUPTED, message)
