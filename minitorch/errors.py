"""The project's errors about files: each message names the file and says what is wrong with it."""
from __future__ import annotations

__all__ = ["CheckpointError", "CheckpointWriteError", "DataFileError"]


class CheckpointError(ValueError):
    """A checkpoint cannot be read (corrupt, truncated, hostile or not a checkpoint) or written."""


class CheckpointWriteError(CheckpointError, OSError):
    """Writing a checkpoint failed (disk full, I/O error); a file already at that path is unchanged.

    Also an OSError whose `errno` is the failure's (errno.ENOSPC for a full disk), so code that
    handles OS errors keeps working.
    """


class DataFileError(ValueError):
    """A data file exists but is corrupt, truncated, too large, or not the file expected."""
