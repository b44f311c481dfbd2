"""``fdr-whatsapp demo``: the whole service in one process on SQLite, with Meta's sandbox."""

from __future__ import annotations

from infrastructure.config import Config


def run_demo(config: Config, host: str, port: int) -> int:
    import uvicorn

    from entrypoints.http.app import create_app
    from entrypoints.wiring import build_container
    from infrastructure.db import migrations

    migrations.upgrade(config.database_url)
    app = create_app(build_container(config))
    base = f"http://{host}:{port}"
    print(f"fdr-whatsapp demo on {base}")
    print(f"  API docs:   {base}/schema")
    print(f"  readiness:  {base}/health/ready")
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    return 0
