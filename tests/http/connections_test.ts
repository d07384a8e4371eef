// What a connection may hold (lib/http/connection_guard.ts): request heads and
// bodies must arrive in time, idle keep-alives end, the cap sheds the oldest
// idle connection, oversized heads answer in the JSON error shape, and the
// real main.ts outlives more idle connections than it has descriptors.
import assert from "node:assert/strict";
import {
  ConnectionGuard,
  defaultMaxConnections,
  readDescriptorLimit,
} from "../../lib/http/connection_guard.ts";
import { Metrics } from "../../lib/metrics.ts";
import { startMain } from "./_main_process.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A guard in front of a tiny server whose /slow answers when `release` is called. */
async function guarded(opts: { maxConnections?: number; headerMs?: number; idleMs?: number }) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  let release = () => {};
  const released = new Promise<void>((r) => (release = r));
  const server = Deno.serve({ path, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/slow") await released;
    if (req.body) await req.arrayBuffer();
    return new Response("ok");
  });
  const metrics = new Metrics();
  const guard = ConnectionGuard.listen({
    hostname: "127.0.0.1",
    port: 0,
    upstreamPath: path,
    maxConnections: opts.maxConnections ?? 100,
    headerTimeoutMs: opts.headerMs ?? 300,
    idleTimeoutMs: opts.idleMs ?? 300,
    metrics,
  });
  return {
    guard,
    metrics,
    release,
    port: guard.addr.port,
    async close() {
      release();
      await guard.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Everything the peer sends until it closes (or `ms` passes: then "<open>" is appended). */
async function readUntilClosed(conn: Deno.Conn, ms = 3000): Promise<string> {
  let text = "";
  const buf = new Uint8Array(64 * 1024);
  const deadline = Date.now() + ms;
  while (true) {
    const left = deadline - Date.now();
    if (left <= 0) return text + "<open>";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), left))),
    ]);
    clearTimeout(timer);
    if (n === "timeout") return text + "<open>";
    if (n === null) return text;
    text += dec.decode(buf.subarray(0, n));
  }
}

async function send(port: number, text: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (text) await conn.write(enc.encode(text));
  return conn;
}

function close(conn: Deno.Conn) {
  try {
    conn.close();
  } catch { /* closed by the peer */ }
}

Deno.test("a request head that does not arrive in time answers 408 and closes", async () => {
  const g = await guarded({ headerMs: 300 });
  try {
    const conn = await send(g.port, "GET /v1/health HTTP/1.1\r\nHost: x\r\n");
    const t0 = performance.now();
    const text = await readUntilClosed(conn);
    close(conn);
    assert.match(text, /^HTTP\/1.1 408 /);
    assert.match(text, /"code":"request_timeout"/);
    assert.ok(performance.now() - t0 < 2000, "closed soon after the timeout");
    assert.match(
      await g.metrics.render(),
      /memcap_connections_closed_total\{reason="header-timeout"\} 1/,
    );
  } finally {
    await g.close();
  }
});

Deno.test("an idle keep-alive connection is closed after the idle timeout", async () => {
  const g = await guarded({ idleMs: 300 });
  try {
    const conn = await send(g.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const text = await readUntilClosed(conn);
    close(conn);
    assert.match(text, /^HTTP\/1.1 200 /);
    assert.doesNotMatch(text, /<open>$/, "the connection was closed, not left open");
    assert.match(await g.metrics.render(), /reason="idle-timeout"\} 1/);
  } finally {
    await g.close();
  }
});

Deno.test("a request body that stops arriving answers 408", async () => {
  const g = await guarded({ idleMs: 300 });
  try {
    const conn = await send(g.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab");
    const text = await readUntilClosed(conn);
    close(conn);
    assert.match(text, /^HTTP\/1.1 408 /);
    assert.match(text, /request body stopped arriving/);
  } finally {
    await g.close();
  }
});

Deno.test("a slow but whole body and a long request are served", async () => {
  const g = await guarded({ idleMs: 400, headerMs: 400 });
  try {
    const conn = await send(g.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab");
    await new Promise((r) => setTimeout(r, 200));
    await conn.write(enc.encode("cd"));
    const slow = await send(g.port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    // Busy longer than both timeouts: the request is the service's, not the guard's, to time.
    setTimeout(() => g.release(), 1000);
    assert.match(await readUntilClosed(conn), /^HTTP\/1.1 200 [\s\S]*ok/);
    assert.match(await readUntilClosed(slow), /^HTTP\/1.1 200 [\s\S]*ok/);
    close(conn);
    close(slow);
  } finally {
    await g.close();
  }
});

Deno.test("a body sent after 100 Continue, then a long answer, is not cut as idle", async () => {
  const g = await guarded({ idleMs: 300, headerMs: 300 });
  try {
    const conn = await send(
      g.port,
      "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    assert.match(dec.decode(buf.subarray(0, n!)), /^HTTP\/1.1 100 /);
    await conn.write(enc.encode("abcd"));
    setTimeout(() => g.release(), 1000); // busy for three idle timeouts
    assert.match(await readUntilClosed(conn, 1500), /^HTTP\/1.1 200 [\s\S]*ok/);
    close(conn);
  } finally {
    await g.close();
  }
});

Deno.test("at the cap the oldest idle connection makes room; all busy answers 503", async () => {
  const g = await guarded({ maxConnections: 3, headerMs: 10_000, idleMs: 10_000 });
  try {
    const idle = [await send(g.port, ""), await send(g.port, ""), await send(g.port, "")];
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(g.guard.connections, 3);
    const fresh = await send(g.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.match(await readUntilClosed(fresh), /^HTTP\/1.1 200 /);
    assert.equal(await readUntilClosed(idle[0], 1000), "", "the oldest idle one was closed");
    idle.forEach(close);
    close(fresh);
    await new Promise((r) => setTimeout(r, 100));

    const busy = [];
    for (let i = 0; i < 3; i++) {
      busy.push(await send(g.port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
    await new Promise((r) => setTimeout(r, 200));
    const refused = await send(g.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const text = await readUntilClosed(refused);
    assert.match(text, /^HTTP\/1.1 503 /);
    assert.match(text, /"code":"too_many_connections"/);
    assert.match(text, /retry-after: 1/i);
    g.release();
    for (const b of busy) assert.match(await readUntilClosed(b, 1000), /^HTTP\/1.1 200 /);
    busy.forEach(close);
    close(refused);
    const m = await g.metrics.render();
    assert.match(m, /reason="shed"\} 1/);
    assert.match(m, /reason="refused"\} 1/);
  } finally {
    await g.close();
  }
});

Deno.test("at the cap a half-sent head goes before a served keep-alive, even a newer one", async () => {
  const g = await guarded({ maxConnections: 2, headerMs: 10_000, idleMs: 10_000 });
  try {
    const served = await send(g.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const buf = new Uint8Array(1024);
    assert.match(dec.decode(buf.subarray(0, (await served.read(buf))!)), /^HTTP\/1.1 200 /);
    await new Promise((r) => setTimeout(r, 100));
    const half = await send(g.port, "GET / HTTP/1.1\r\nHost: x\r\n");
    await new Promise((r) => setTimeout(r, 100));
    const fresh = await send(g.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.match(await readUntilClosed(fresh), /^HTTP\/1.1 200 /);
    assert.equal(await readUntilClosed(half, 1000), "", "the half-sent head was shed");
    // The older, served keep-alive still works.
    await served.write(enc.encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    assert.match(await readUntilClosed(served), /^HTTP\/1.1 200 /);
    [served, half, fresh].forEach(close);
  } finally {
    await g.close();
  }
});

Deno.test("an overlong request line answers 414 and an overlong head 431, as JSON", async () => {
  const g = await guarded({});
  try {
    const long = await send(g.port, `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const t1 = await readUntilClosed(long);
    assert.match(t1, /^HTTP\/1.1 414 /);
    const body = JSON.parse(t1.slice(t1.indexOf("\r\n\r\n") + 4));
    assert.equal(body.error.code, "uri_too_long");
    close(long);
    for (const [count, size] of [[200, 10], [40, 1000]]) {
      const headers = Array.from({ length: count }, (_, i) => `X-H${i}: ${"v".repeat(size)}\r\n`);
      const big = await send(g.port, `GET / HTTP/1.1\r\nHost: x\r\n${headers.join("")}\r\n`);
      const t2 = await readUntilClosed(big);
      assert.match(t2, /^HTTP\/1.1 431 /, `${count} fields of ${size} bytes`);
      assert.match(t2, /"code":"headers_too_large"/);
      close(big);
    }
    // Within both limits the request is served.
    const fine = Array.from({ length: 90 }, (_, i) => `X-H${i}: ${"v".repeat(100)}\r\n`);
    const ok = await send(g.port, `GET / HTTP/1.1\r\nHost: x\r\n${fine.join("")}\r\n`);
    assert.match(await readUntilClosed(ok, 1000), /^HTTP\/1.1 200 /);
    close(ok);
  } finally {
    await g.close();
  }
});

Deno.test("the default cap leaves descriptors for the rest of the service", () => {
  assert.equal(defaultMaxConnections(1024), 256); // (1024 - 256) / 3
  assert.equal(defaultMaxConnections(256), 42); // (256 - 128) / 3
  assert.equal(defaultMaxConnections(1_048_576), 4096);
  assert.equal(defaultMaxConnections(null), 1024);
  // Read under the test task's permissions, which are deno task start's: no --allow-all.
  const limit = readDescriptorLimit();
  assert.ok(limit !== null && limit > 0, `descriptor limit ${limit}`);
});

Deno.test({
  name: "main.ts outlives more idle connections than it has descriptors, and keeps answering",
  sanitizeResources: false,
  async fn() {
    const data = await Deno.makeTempDir();
    const main = await startMain(`${data}/store`, { MEMCAP_HEADER_TIMEOUT_S: "60" }, {
      descriptorLimit: 256,
    });
    const held: Deno.Conn[] = [];
    try {
      const port = Number(new URL(main.url).port);
      // Half a request head each, as a slowloris client sends; more than the process may open.
      const health = async () => {
        const t0 = performance.now();
        const res = await fetch(`${main.url}/v1/health`, { headers: { connection: "close" } });
        await res.body?.cancel();
        return { status: res.status, ms: performance.now() - t0 };
      };
      for (let i = 0; i < 400; i++) {
        held.push(await send(port, "GET /v1/health HTTP/1.1\r\nHost: x\r\n"));
        if (i % 100 === 99) assert.equal((await health()).status, 200, `during, after ${i + 1}`);
      }
      const during = [];
      for (let i = 0; i < 20; i++) during.push(await health());
      assert.ok(during.every((h) => h.status === 200));
      // Keep-alive connections left idle after a whole request: three descriptors each.
      for (let i = 0; i < 150; i++) {
        const conn = await send(port, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
        const buf = new Uint8Array(4096);
        await conn.read(buf).catch(() => null);
        held.push(conn);
      }
      assert.equal((await health()).status, 200, "after keep-alive connections");
      held.forEach(close);
      held.length = 0;
      assert.equal((await health()).status, 200, "after");
      const metrics = await (await fetch(`${main.url}/metrics`)).text();
      assert.match(metrics, /memcap_connections_closed_total\{reason="shed"\} \d+/);
      assert.equal(await main.stop("SIGTERM"), 0, "the process was still alive to stop");
    } catch (e) {
      console.log(main.out.join("\n"), main.err.join("\n"));
      throw e;
    } finally {
      held.forEach(close);
      await main.stop("SIGKILL").catch(() => {});
      await Deno.remove(data, { recursive: true });
    }
  },
});

Deno.test({
  name: "a body shorter than its Content-Length or a bad chunk is a 400, never a 500",
  sanitizeResources: false,
  async fn() {
    const data = await Deno.makeTempDir();
    const main = await startMain(`${data}/store`);
    try {
      const port = Number(new URL(main.url).port);
      const cases = [
        "POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        'Content-Length: 100\r\n\r\n{"kind":',
        "POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        "PUT /v1/models/mdl_00000000000000000000/weights HTTP/1.1\r\nHost: x\r\n" +
        "Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nabc",
      ];
      for (const request of cases) {
        const conn = await send(port, request);
        await (conn as Deno.TcpConn).closeWrite();
        const text = await readUntilClosed(conn);
        close(conn);
        // The client may see the 400 or nothing (it sent no whole request); never a 500.
        assert.doesNotMatch(text, /^HTTP\/1.1 5/, text);
      }
      await new Promise((r) => setTimeout(r, 300));
      const metrics = await (await fetch(`${main.url}/metrics`)).text();
      assert.doesNotMatch(metrics, /status="5\d\d"/, "no 5xx counted");
      assert.ok(
        !main.err.some((l) => /failed:|Uncaught|at async/.test(l)),
        `no stack trace in the log:\n${main.err.join("\n")}`,
      );
      assert.equal(await main.stop("SIGTERM"), 0);
    } finally {
      await main.stop("SIGKILL").catch(() => {});
      await Deno.remove(data, { recursive: true });
    }
  },
});
