// The dashboard's only way to the data: GET api/v1/NAME (docs: the API
// contract in README/OpenAPI). Every failure becomes an ApiError whose message
// a panel can show as it is.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

// Rows fetched for one panel: charts want the whole (small) result.
export const PANEL_LIMIT = 1000;
// The API's largest page (APICAT_LIMIT_MAX).
export const LIMIT_MAX = 10000;

// The URL of query NAME with params (empty values left out), relative to the
// page so that a dashboard served under a path prefix still works.
export function queryUrl(name, params = {}, limit = PANEL_LIMIT) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && String(v) !== '') qs.set(k, String(v));
  }
  qs.set('limit', String(limit));
  return `api/v1/${encodeURIComponent(name)}?${qs}`;
}

// Fetches query NAME; resolves to {query, title, columns, rows, next} or
// throws ApiError (network failure, HTTP error with the API's JSON message,
// or an answer that is not the documented shape).
export async function fetchQuery(name, params = {}, limit = PANEL_LIMIT) {
  let res;
  try {
    res = await fetch(queryUrl(name, params, limit), {
      headers: { Accept: 'application/json' },
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${e.message})`);
  }
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    throw new ApiError(res.status, `HTTP ${res.status}: the answer is not JSON`);
  }
  if (!res.ok) {
    const msg = body && body.error && body.error.message ? body.error.message : res.statusText;
    throw new ApiError(res.status, `HTTP ${res.status}: ${msg}`);
  }
  if (!body || !Array.isArray(body.rows) || !Array.isArray(body.columns)) {
    throw new ApiError(res.status, 'the answer lacks "columns" or "rows"');
  }
  return body;
}
