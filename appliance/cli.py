"""The ``werkvloer`` command (filled in below)."""
def main() -> int:
    return 0
