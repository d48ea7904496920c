"""Pick the Solidity compiler brownie will use and print the SOLCX_BINARY_PATH for it.

With internet access py-solc-x installs the native solc as usual and this prints an
empty line (use py-solc-x's default folder). Offline, the native download fails and this
prints the folder holding the solc-js wrapper, which py-solc-x treats like a native solc.
"""

from __future__ import annotations

import sys
from pathlib import Path

VERSION = "0.8.28"
OFFLINE_BIN = Path(__file__).resolve().parent / "solc-bin"


def main() -> int:
    import solcx

    if any(str(v) == VERSION for v in solcx.get_installed_solc_versions()):
        print("")
        return 0
    try:
        solcx.install_solc(VERSION, show_progress=False)
    except Exception as exc:  # noqa: BLE001 - any failure means: use the offline compiler
        print(f"native solc {VERSION} unavailable ({type(exc).__name__}); using solc-js", file=sys.stderr)
        print(OFFLINE_BIN)
        return 0
    print("")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
