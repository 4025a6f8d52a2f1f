"""The exception family. Each message is one sentence a technician can act on."""


class ExperimentError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(ExperimentError):
    """The protocol file, a questionnaire file or a stimulus is unusable."""


class DeviceError(ExperimentError):
    """A marker port, sound device or display cannot be used."""


class DataError(ExperimentError):
    """The data folder cannot be written, or would be overwritten."""


class AllocationError(ExperimentError):
    """The allocation ledger refuses or cannot serve an allocation."""


class SessionAborted(ExperimentError):
    """The technician ended the session (Escape, confirmed)."""


def first_line(err: BaseException) -> str:
    """The first line of a library's error message (some span pages), for our one sentence."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
