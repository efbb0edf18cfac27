"""Entry point of the reasoner worker process: ``python -m bot.stages.reasoner._worker_process FD``.

Kept apart from :mod:`bot.stages.reasoner.worker` so the message classes are always pickled under their real
module name (running that module with ``-m`` would make them ``__main__.X``).
"""

import sys

from bot.stages.reasoner.worker import run_from_fd

if __name__ == "__main__":
    sys.exit(run_from_fd(sys.argv[1:]))
