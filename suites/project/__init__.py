"""The ``project`` profile: a checkout per session, its change as a diff and a branch
(``PROJECT-*``), judged against a target whose PROJECT_DIR is the fixture project."""
