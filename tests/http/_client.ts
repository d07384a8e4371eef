// JSON over real HTTP, for the tests and benches that talk to a served memcap
// (main.ts as its own process, or the app on Deno.serve).

/** One request with an optional JSON body: the status and the parsed body (null when empty). */
// deno-lint-ignore no-explicit-any
export async function fetchJson(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** The same for benches, where any non-2xx status is a failure: it throws, naming the call. */
// deno-lint-ignore no-explicit-any
export async function fetchOk(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  const { status, json } = await fetchJson(base, method, path, body);
  if (status < 200 || status > 299) {
    throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json).slice(0, 300)}`);
  }
  return json;
}
