"""This repository's tasks: wavrybuild's collection, exactly as any other repository uses it."""

from wavrybuild import ns  # noqa: F401
