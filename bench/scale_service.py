"""One service process of the scale-out benchmark: the app ``optibot run`` serves (settings from the
environment, webhook mode), with the chat channels' pacing lifted as in the single-process channel
benchmarks (``bench.common.lifted_pacing``): the fakes enforce no limits there, and the rate
measured is the service's. Run as ``python -m bench.scale_service --port N``.
"""

from __future__ import annotations

import argparse


def main() -> None:
    import uvicorn

    from bench.common import lifted_pacing
    from bot.settings import Settings
    from bot.web.app import create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    app = create_app(settings, limiters=lifted_pacing)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
