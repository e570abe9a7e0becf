"""Faulty sidecars (fault modifiers over the reference server); see ``catalogue``."""

from fakes.faults.catalogue import FAULTS, create_faulty_app, describe
from fakes.faults.fault import Fault

__all__ = ["FAULTS", "Fault", "create_faulty_app", "describe"]
