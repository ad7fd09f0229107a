"""The desktop app (Qt). Nothing here is imported by ``gradsim`` or ``gradsim.engine``."""
