"""Load profiles (``profiles.yaml``): which user runs, what it plays, the shape's stages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contract import parse_yaml

PROFILES_PATH = Path(__file__).resolve().parent / "profiles.yaml"


@dataclass(frozen=True)
class Stage:
    until: float
    """End of the stage, as a fraction of the run's duration."""
    users: float
    """Users during the stage, as a fraction of the run's user count."""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    user: str
    scenario: str
    stages: tuple[Stage, ...]
    websocket: bool = False
    """Read each session over its WebSocket (``GET /sessions/{id}/ws``) instead of SSE."""

    def users_at(self, elapsed: float, duration: float, max_users: int) -> int | None:
        """Users wanted ``elapsed`` seconds in; ``None`` once the run is over."""
        for stage in self.stages:
            if elapsed < stage.until * duration:
                return max(1, round(stage.users * max_users))
        return None


def load_profiles(path: Path = PROFILES_PATH) -> dict[str, Profile]:
    raw = parse_yaml(path.read_text())
    return {
        name: Profile(
            name=name,
            description=entry["description"],
            user=entry["user"],
            scenario=entry["scenario"],
            stages=tuple(Stage(float(s["until"]), float(s["users"])) for s in entry["stages"]),
            websocket=_flag(name, entry.get("websocket", False)),
        )
        for name, entry in raw.items()
    }


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"profiles.yaml: {name}.websocket must be true or false, not {value!r}")
    return value
