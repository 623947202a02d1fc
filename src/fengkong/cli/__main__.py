"""``python -m fengkong.cli``: the same as the ``fengkong`` command."""

from fengkong.cli import main

if __name__ == "__main__":
    main()
