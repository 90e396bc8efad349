"""``python -m gridmap``: the same as the ``gridmap`` command."""

from gridmap.cli import run

if __name__ == "__main__":
    run()
