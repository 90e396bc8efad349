"""``python -m gridmap``: the same as the ``gridmap`` command."""

from gridmap.cli import main

if __name__ == "__main__":
    main()
