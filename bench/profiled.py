"""``fdr-whatsapp`` under cProfile: ``python -m bench.profiled OUT.prof serve --port 8000``.

The bench's own wrapper, so the service needs no profiling hook: the CLI runs exactly as
``python -m composition.cli`` would, and the statistics are written when it returns (both
``serve`` and ``worker`` return on SIGTERM after a clean shutdown).
"""

from __future__ import annotations

import cProfile
import signal
import sys

from composition.cli import main as cli_main


def main() -> int:
    out, *argv = sys.argv[1:]
    # uvicorn re-raises the SIGTERM it handled once it has shut down, with the handler it
    # found at start-up: with the default one the process would die before the dump.
    signal.signal(signal.SIGTERM, lambda *_: None)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        code = cli_main(argv)
    finally:
        profiler.disable()
        profiler.dump_stats(out)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
