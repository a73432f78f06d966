"""Problems found in idp/ files (realms, the API registry): each names the file and object."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    file: str
    obj: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.obj}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; nothing was sent to Keycloak."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
