"""The baseline server for the memory and status benchmarks: uvicorn + FastAPI, one endpoint.

Run as `python -m bench.bare_app PORT [--sqlalchemy]`. It imports nothing of ours, so it shows
what the web stack alone costs; the daemon serves its API with the same stack. With
`--sqlalchemy` it also imports SQLAlchemy and runs one query on a SQLite engine: the floor of any
FastAPI service on SQLAlchemy, for the memory benchmark.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz", response_model=None)  # no response validation: as bare as FastAPI gets
def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    if "--sqlalchemy" in sys.argv[2:]:
        import sqlalchemy

        engine = sqlalchemy.create_engine("sqlite://")
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
