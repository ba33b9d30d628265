"""``python -m rnncli.serve.healthcheck [URL]``: exit 0 when a server's /healthz answers 200, else 1.

For container health checks (the image has no curl); imports only the standard library, so it runs in ~50 ms.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8500/healthz"


def healthy(url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a URL the operator gives
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return 0 if healthy(args[0] if args else DEFAULT_URL) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
