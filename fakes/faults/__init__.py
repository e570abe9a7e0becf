"""Faulty sidecars (fault modifiers over the reference server); see ``catalogue``."""

from fakes.faults.catalogue import FAULTS, Fault, create_faulty_app, describe

__all__ = ["FAULTS", "Fault", "create_faulty_app", "describe"]
