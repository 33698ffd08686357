"""``StyleBoothError``: the one base of every error whose message is written for a person.

A bad photo, an unknown scene, a model that cannot be had, a print option the product does
not take, a typo in the settings file: each is a subclass, raised where it is found, with a
sentence that says what is wrong and what to do. The places that talk to people catch only
this base: the server answers it as a JSON error (``kiosk/errors.py``: 400, or the status its
``code`` stands for), ``stylebooth`` prints it as one line and exits 2. Anything else that
escapes is a bug and is left to surface as one (a 500 with a logged traceback, a traceback on
the command line) rather than dressed up as the guest's mistake, as catching ``ValueError``
would.

It lives here, in ``render/``, because ``render/`` and ``export/`` raise it and import nothing
from ``kiosk/`` (the app depends on the libraries, never the reverse); the app imports it from
here too (``kiosk.errors`` re-exports it beside ``ApiError``).
"""

from __future__ import annotations

from typing import ClassVar


class StyleBoothError(Exception):
    """A failure a person can act on; ``str(error)`` is the sentence to show them.

    ``code`` is a short slug naming the kind of failure (the JSON error's ``code``); each
    subclass names its own in the class line: ``class UnknownScene(StyleBoothError,
    code="unknown_scene")``.
    """

    code: ClassVar[str] = "bad_request"

    def __init_subclass__(cls, code: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
