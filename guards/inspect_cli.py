"""``clauseguard inspect IMAGE``: print, as JSON, the AI-generated marks an image carries.

Shows the XMP ``DigitalSourceType``, the PNG text chunks, and whether a C2PA manifest is present (its
presence only: the manifest is not validated). Exit 0 whatever the marks; a file that is not a
readable image, or not a regular file at all (a device such as /dev/zero, a FIFO), is a user error
(exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from clauseguard.errors import UserError

__all__ = ["inspect"]


@click.command("inspect")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect(image: Path) -> None:
    """Show the AI-generated marks of an image."""
    from clauseguard.guards._images import ImageLoadError, read_file
    from clauseguard.guards._xmp import XmpError
    from clauseguard.guards.image_mark import read_marks

    try:  # a regular file, read no further than the size limit
        marks = read_marks(read_file(image))
    except ImageLoadError as err:  # its message says what is wrong with the image
        raise UserError(str(err), where=str(image)) from err
    except XmpError as err:
        raise UserError(f"unreadable image metadata: {err}", where=str(image)) from err
    click.echo(json.dumps({"path": str(image), **marks}, indent=2, ensure_ascii=False))
