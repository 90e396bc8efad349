"""Grid division: standard grid codes (CJ/T 349, DB11, statistical) and re-division proposals."""
