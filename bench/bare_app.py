"""The baseline server for the memory and status benchmarks: uvicorn + FastAPI, one endpoint.

Run as `python -m bench.bare_app PORT`. It imports nothing of ours, so it shows what the web stack
alone costs; the daemon serves its API with the same stack.
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
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
