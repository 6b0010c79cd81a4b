from .cli import main

if __name__ == "__main__":  # not when a process pool's worker imports it as its main module
    raise SystemExit(main())
