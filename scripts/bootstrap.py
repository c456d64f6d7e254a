"""Prepare a database: apply migrations, and with --seed load the demo data.

DATABASE_URL=... python -m scripts.bootstrap [--seed]
"""

from __future__ import annotations

import argparse
import asyncio
import os

from core.config import to_async_url
from core.db import make_engine
from core.migrate import upgrade


async def bootstrap(database_url: str, with_demo_data: bool) -> None:
    await upgrade(database_url)
    if with_demo_data:
        from scripts.seed import seed  # reads demo/, which migrations alone don't need

        engine = make_engine(to_async_url(database_url), pool_size=2)
        try:
            await seed(engine)
        finally:
            await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", action="store_true", help="load demo departments, items, accounts")
    args = parser.parse_args()
    asyncio.run(bootstrap(os.environ["DATABASE_URL"], args.seed))


if __name__ == "__main__":
    main()
