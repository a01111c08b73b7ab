"""Helpers for tests that start the command line in a child process and signal it."""
import signal


def default_sigint() -> None:
    """Popen's ``preexec_fn`` for a child that is sent Ctrl-C: SIGINT back to its default. A
    shell starts a background job (``make test &``, a CI script's ``&``) with SIGINT ignored, the
    child inherits that and Python leaves it ignored, so the Ctrl-C a test sends would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
