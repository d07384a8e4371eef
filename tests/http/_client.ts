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

/** Calls `fn` every `everyMs` until it gives a value; throws naming `what` after `ms`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  ms: number,
  everyMs = 100,
): Promise<T> {
  for (const deadline = Date.now() + ms;; await new Promise((r) => setTimeout(r, everyMs))) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }
}

/** A job (`/v1/runs/…`, `/v1/capacity/…`) as GET shows it once it is no longer active. */
// deno-lint-ignore no-explicit-any
export function settled(base: string, path: string, ms = 120_000): Promise<any> {
  return waitFor(
    path,
    async () => {
      const job = await fetchOk(base, "GET", path);
      return ["queued", "running"].includes(job.status) ? undefined : job;
    },
    ms,
    200,
  );
}
