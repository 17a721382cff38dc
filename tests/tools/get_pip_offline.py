"""Stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test fetches ``get-pip-<version>.py`` from a host that the project's
machines cannot reach.  ``make sanity`` places this file in ansible-test's
cache under the name it expects.  It bootstraps pip from the interpreter's own
bundled wheel (``ensurepip``, run in a child process so that it cannot strip
the ``PIP_*`` settings of this one) and then installs the pip that ansible-test
asked for from the package index configured on the machine.
"""

import subprocess
import sys


def main():
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + sys.argv[1:])


if __name__ == "__main__":
    main()
