"""The errors clauseguard raises.

Every error derives from :class:`ClauseguardError` and from the builtin it resembles, so callers may
catch either. The tree::

    ClauseguardError
     ├── UserError                  a user's input is wrong: the CLI prints it and exits with code 2
     │    ├── ProfileError (ValueError)          profile.yaml: unknown key, wrong type, missing value, bad YAML
     │    ├── ClauseError (ValueError)           a clause or template file is malformed
     │    │    └── SandboxError                  a template tried to leave the Jinja2 sandbox
     │    ├── SelectionError (ValueError)        clauses conflict, or a required clause is missing
     │    ├── GuardConfigError (ValueError)      guards.yaml: unknown type, bad parameter, bad regex
     │    ├── ModelLoadError (OSError)           a local model folder is missing or malformed
     │    ├── WriteError (OSError)               an output file or folder cannot be written
     │    ├── NoticeError (ValueError)           a notice, counter-notice or complaint misses a required element
     │    │    └── NoticeNotFound (LookupError)  no notice, decision, complaint or counter-notice has that reference
     │    ├── RawIpError (ValueError)            a raw IP address was about to be stored where only pseudonyms go
     │    └── PseudonymKeyError (ValueError)     CLAUSEGUARD_PSEUDONYM_KEYS is missing or malformed
     ├── GuardError (RuntimeError)               a guard failed while checking content (fail closed)
     └── RecordsError (RuntimeError)             the record store cannot be opened, migrated or written

Each error carries ``where`` (file, line, key path) when it is known, and renders it first in ``str()``.
"""

from __future__ import annotations

__all__ = [
    "ClauseError",
    "ClauseguardError",
    "GuardConfigError",
    "GuardError",
    "ModelLoadError",
    "NoticeError",
    "NoticeNotFound",
    "ProfileError",
    "PseudonymKeyError",
    "RawIpError",
    "RecordsError",
    "SandboxError",
    "SelectionError",
    "UserError",
    "WriteError",
]


class ClauseguardError(Exception):
    """Base of every clauseguard error.

    ``where`` names the place of the fault ("profile.yaml:12 operator.contact_email"); it is printed
    before the message.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class UserError(ClauseguardError):
    """A mistake in something the user gave (a file, an option). The CLI exits with code 2."""


class ProfileError(UserError, ValueError):
    """profile.yaml is invalid: bad YAML, unknown key, wrong type, missing value, unknown licence."""


class ClauseError(UserError, ValueError):
    """A clause or template file is malformed or does not render."""


class SandboxError(ClauseError):
    """A clause or template tried to reach outside the Jinja2 sandbox."""


class SelectionError(UserError, ValueError):
    """The selected clauses conflict, or a clause requires one that does not exist."""


class GuardConfigError(UserError, ValueError):
    """guards.yaml (or a guard built in Python) is invalid."""


class ModelLoadError(UserError, OSError):
    """A model folder or file given by the user is missing or malformed."""


class WriteError(UserError, OSError):
    """An output file or folder cannot be written: no permission, no space, a file where a folder belongs.

    An OSError too, with the ``errno`` and ``strerror`` of the failure, so code that catches OSError
    around a write still does.
    """

    def __init__(self, err: OSError, path: str) -> None:
        super().__init__(f"cannot write: {err.strerror or err}", where=path)
        self.errno, self.strerror, self.filename = err.errno, err.strerror, err.filename

    def __str__(self) -> str:  # OSError's own would print "[Errno 28] ..." once errno is set
        return f"{self.where}: {self.message}"


class GuardError(ClauseguardError, RuntimeError):
    """A guard raised while checking content. The pipeline turns it into a fail-closed verdict."""


class NoticeError(UserError, ValueError):
    """A notice, counter-notice, complaint or decision is incomplete or out of time.

    ``fields`` names the missing or invalid fields (``("notifier_email",)``).
    """

    def __init__(self, message: str, *, fields: tuple[str, ...] = (), where: str | None = None) -> None:
        self.fields = fields
        super().__init__(message, where=where)


class NoticeNotFound(NoticeError, LookupError):
    """No notice, decision, complaint or counter-notice has the reference given (``fields`` names it).

    A LookupError, so callers (the server's 404 handler) tell "no such notice" from "this notice is
    incomplete" by type, never by the message's wording.
    """


class RawIpError(UserError, ValueError):
    """Something that looks like a raw IP address was given for a field that holds only pseudonyms."""


class PseudonymKeyError(UserError, ValueError):
    """The pseudonymisation keys (``CLAUSEGUARD_PSEUDONYM_KEYS``) are missing or malformed."""


class RecordsError(ClauseguardError, RuntimeError):
    """The record store cannot be opened, migrated or written."""
