// The daemon's JSON API, relative to the page (so the dashboard also works behind a path prefix).

const BASE = "api/auto-scaler";
const TIMEOUT_MS = 8000;

export class ApiError extends Error {
  constructor(message, status = null) {
    super(message);
    this.status = status; // null: the server was not reached
  }
}

/** GET a JSON endpoint; any failure becomes an ApiError with a message a person can act on. */
export async function getJSON(path, base = BASE) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(`${base}/${path}`, {
      signal: controller.signal,
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
  } catch (err) {
    const why = err.name === "AbortError" ? `no answer within ${TIMEOUT_MS / 1000} s` : "network error";
    throw new ApiError(`the API cannot be reached (${why})`);
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? `: ${body.detail}` : "";
    const endpoint = `${base}/${path.split("?")[0]}`;
    throw new ApiError(`${endpoint} answered HTTP ${response.status}${detail}`, response.status);
  }
  if (body === null || typeof body !== "object") {
    throw new ApiError(`${base}/${path.split("?")[0]} did not answer JSON`, response.status);
  }
  return body;
}

export const api = {
  status: () => getJSON("status"),
  samples: (window) => getJSON(`samples?window=${encodeURIComponent(window)}`),
  history: (limit) => getJSON(`history?limit=${limit}`),
};
