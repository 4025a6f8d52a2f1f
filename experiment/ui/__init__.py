"""Everything that touches a PsychoPy window. Nothing here runs at import."""
