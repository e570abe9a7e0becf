"""What the runner tells the Locust process, declared once (:mod:`contract.settings`): the
runner writes it into the Locust process's environment (:func:`environment_of`), the
locustfile reads it back once at its edge (:meth:`LocustSettings.from_env`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from contract.settings import declared, from_env, setting


@dataclass(frozen=True)
class LocustSettings:
    profile: str = setting("the load profile (loadtests/profiles.yaml)", env="LOAD_PROFILE")
    model_endpoint: str = setting("the model endpoint sessions use", env="MODEL_ENDPOINT")
    duration: float = setting("seconds of load", env="LOAD_DURATION", parse=float, default=60.0)
    users: int = setting("users at the profile's peak", env="LOAD_USERS", parse=int, default=10)
    secret: str | None = setting("the target's bearer secret", env="SIDECAR_SECRET", secret=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LocustSettings:
        settings = from_env(cls, env)
        for field, s in declared(cls):
            if field.name in ("profile", "model_endpoint") and not getattr(settings, field.name):
                raise RuntimeError(f"{s.env} is not set; run through `opencode-sidecar load`")
        return settings

    def environment(self) -> dict[str, str]:
        """The variables that carry these settings into the Locust process."""
        return {
            s.env: str(getattr(self, f.name))
            for f, s in declared(LocustSettings)
            if s.env and getattr(self, f.name) is not None
        }
