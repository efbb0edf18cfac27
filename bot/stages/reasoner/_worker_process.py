"""Entry point of the reasoner worker process: ``python -m modbot.stages.reasoner._worker_process FD``.

Kept apart from :mod:`modbot.stages.reasoner.worker` so the message classes are always pickled under their real
module name (running that module with ``-m`` would make them ``__main__.X``).
"""

import sys

from modbot.stages.reasoner.worker import run_from_fd

if __name__ == "__main__":
    sys.exit(run_from_fd(sys.argv[1:]))
