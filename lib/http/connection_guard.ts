// The front door. Deno.serve has no header-read or idle timeout and no cap on
// connections, so a client that opens connections and sends half a request
// head holds a descriptor each until the process runs out and dies. The guard
// owns the TCP listener instead: it bounds how long a request head, a request
// body and an idle keep-alive may take, caps the connections it holds (at the
// cap the oldest idle one is closed to admit a new one), and treats running
// out of descriptors as a reason to shed, never to exit. Each admitted
// connection is piped byte for byte to Deno.serve on a private Unix socket.
import type { Metrics } from "../metrics.ts";

export interface GuardOptions {
  hostname: string;
  port: number;
  /** The Unix socket Deno.serve listens on. */
  upstreamPath: string;
  maxConnections: number;
  /** A whole request head (request line and headers) must arrive within this. */
  headerTimeoutMs: number;
  /** Between requests, and between the bytes of a request body. */
  idleTimeoutMs: number;
  /** Longer request lines answer 414 (Deno.serve would send an empty 400). */
  maxRequestLineBytes?: number;
  /** Longer request heads answer 431. */
  maxHeadBytes?: number;
  metrics?: Metrics;
  log?: (message: string) => void;
}

export const DEFAULT_MAX_REQUEST_LINE_BYTES = 8 * 1024;
export const DEFAULT_MAX_HEAD_BYTES = 32 * 1024;

/**
 * Where a connection is in its request cycle:
 * head: a request head is arriving (or awaited on a new connection);
 * body: the head said Content-Length and body bytes are still owed;
 * busy: the request is with the service and nothing has come back yet;
 * idle: the service answered (or is streaming); the client may send the next request.
 */
type Phase = "head" | "body" | "busy" | "idle";

/** Why the guard closed a connection (the reason label of memcap_connections_closed_total). */
export type CloseReason =
  | "header-timeout"
  | "body-timeout"
  | "idle-timeout"
  | "shed"
  | "refused"
  | "request-line-too-long"
  | "head-too-large";

const CRLFCRLF = [13, 10, 13, 10];
/** Deno.serve refuses more than 100 header fields with an empty 400; the guard answers first. */
export const MAX_HEADER_FIELDS = 96;
const MAX_HEAD_LINES = MAX_HEADER_FIELDS + 2;

class Connection {
  phase: Phase = "head";
  /** When the current phase began, ms. */
  since: number;
  /** The last byte in either direction, and the last from the client, ms. */
  lastActivity: number;
  lastClientByte: number;
  /** Bytes of the head so far, and how many of the last bytes match CRLFCRLF. */
  headBytes = 0;
  matched = 0;
  /** Whether the request line has ended (a LF seen in this head), and its length so far. */
  lineEnded = false;
  lineBytes = 0;
  /** Lines of the head so far (the request line, the header fields, the blank line). */
  lines = 0;
  /** The head's text so far (bounded by maxHeadBytes), for Content-Length. */
  headText = "";
  bodyLeft = 0;
  closed = false;
  upstream: Deno.UnixConn | null = null;
  /** The first head's bytes, held until the head is complete (bounded by maxHeadBytes). */
  pending: Uint8Array[] = [];

  constructor(readonly client: Deno.Conn, now: number) {
    this.since = this.lastActivity = this.lastClientByte = now;
  }

  enter(phase: Phase, now: number) {
    this.phase = phase;
    this.since = now;
  }

  startHead(now: number) {
    this.enter("head", now);
    this.headBytes =
      this.matched =
      this.lineBytes =
      this.lines =
        0;
    this.lineEnded = false;
    this.headText = "";
  }
}

export class ConnectionGuard {
  readonly addr: Deno.NetAddr;
  private readonly open = new Set<Connection>();
  private stopped = false;
  private readonly sweeper: ReturnType<typeof setInterval>;
  private readonly accepting: Promise<void>;
  private readonly maxLine: number;
  private readonly maxHead: number;
  private readonly log: (message: string) => void;
  /** Where Deno.serve listens now (main.ts replaces a server that died). */
  upstreamPath: string;

  private constructor(private readonly listener: Deno.TcpListener, readonly opts: GuardOptions) {
    this.addr = listener.addr;
    this.upstreamPath = opts.upstreamPath;
    this.maxLine = opts.maxRequestLineBytes ?? DEFAULT_MAX_REQUEST_LINE_BYTES;
    this.maxHead = opts.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    this.log = opts.log ?? ((m) => console.warn(m));
    const tick = Math.max(
      25,
      Math.min(1000, Math.min(opts.headerTimeoutMs, opts.idleTimeoutMs) / 4),
    );
    this.sweeper = setInterval(() => this.sweep(), tick);
    this.accepting = this.acceptLoop();
  }

  static listen(opts: GuardOptions): ConnectionGuard {
    const listener = Deno.listen({ hostname: opts.hostname, port: opts.port, transport: "tcp" });
    return new ConnectionGuard(listener, opts);
  }

  /** Connections held now. */
  get connections(): number {
    return this.open.size;
  }

  /** Stops accepting; connections already held go on until close(). */
  async stopAccepting(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.listener.close();
    } catch { /* already closed */ }
    await this.accepting;
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    await this.stopAccepting();
    clearInterval(this.sweeper);
    for (const c of [...this.open]) this.drop(c);
  }

  private async acceptLoop(): Promise<void> {
    let lastWarning = 0;
    while (!this.stopped) {
      let conn: Deno.Conn;
      try {
        conn = await this.listener.accept();
      } catch (err) {
        if (this.stopped || err instanceof Deno.errors.BadResource) return;
        // Out of descriptors (EMFILE) or another transient accept failure: make room and
        // try again; the waiting connection stays in the kernel's backlog meanwhile.
        if (performance.now() - lastWarning > 10_000) {
          lastWarning = performance.now();
          this.log(`connections: accept failed (${errorText(err)}); shedding idle connections`);
        }
        this.shedOldestIdle();
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      this.admit(conn);
    }
  }

  private admit(client: Deno.Conn) {
    if (this.open.size >= this.opts.maxConnections && !this.shedOldestIdle()) {
      void refuse(
        client,
        503,
        "too_many_connections",
        "The service holds as many connections " +
          `as it may (${this.opts.maxConnections}), all of them busy; retry shortly`,
      );
      this.count("refused");
      return;
    }
    const c = new Connection(client, performance.now());
    this.open.add(c);
    void this.pipe(c);
  }

  /**
   * Carries the client's bytes to Deno.serve. The first request head is held here until it
   * is complete: a connection that never sends a whole head costs one descriptor, not three,
   * and never reaches Deno.serve.
   */
  private async pipe(c: Connection) {
    const buf = new Uint8Array(64 * 1024);
    let answers: Promise<void> | null = null;
    while (!c.closed) {
      const n = await c.client.read(buf).catch(() => null);
      if (n === null) {
        // The client is done sending; let the server finish its answer.
        if (c.upstream) await c.upstream.closeWrite().catch(() => {});
        else this.drop(c);
        break;
      }
      const chunk = buf.subarray(0, n);
      const verdict = this.observeClient(c, chunk);
      if (verdict) {
        await this.reject(c, verdict);
        break;
      }
      if (c.upstream) {
        if (!(await writeAll(c.upstream, chunk))) this.drop(c);
        continue;
      }
      c.pending.push(chunk.slice());
      if (c.phase === "head") continue;
      if (!(await this.connect(c))) break;
      answers = this.serverToClient(c);
      for (const bytes of c.pending.splice(0)) {
        if (!(await writeAll(c.upstream!, bytes))) this.drop(c);
      }
    }
    await answers;
    this.drop(c);
  }

  /** Opens the connection's way to Deno.serve; false (and the client answered) when it cannot. */
  private async connect(c: Connection): Promise<boolean> {
    try {
      c.upstream = await Deno.connect({ transport: "unix", path: this.upstreamPath });
    } catch (err) {
      // Out of descriptors, or the server is being replaced: answer, and make room.
      this.log(`connections: could not reach the HTTP server (${errorText(err)})`);
      c.closed = true;
      this.open.delete(c);
      this.shedOldestIdle();
      await refuse(
        c.client,
        503,
        "too_many_connections",
        "The service is out of connections; retry shortly",
      );
      this.count("refused");
      return false;
    }
    if (c.closed) {
      // Timed out or shed while connecting.
      c.upstream.close();
      return false;
    }
    return true;
  }

  private async serverToClient(c: Connection) {
    const buf = new Uint8Array(64 * 1024);
    while (!c.closed) {
      const n = await c.upstream!.read(buf).catch(() => null);
      if (n === null) return this.drop(c);
      const now = performance.now();
      c.lastActivity = now;
      // While body bytes are still owed this is an interim answer (100 Continue) or an early
      // refusal: the request is not over, so the connection is not idle yet.
      if (c.phase === "busy" || (c.phase === "body" && c.bodyLeft <= 0)) c.enter("idle", now);
      if (!(await writeAll(c.client, buf.subarray(0, n)))) return this.drop(c);
    }
  }

  /** Tracks the request cycle through the client's bytes; a close reason when it must end. */
  private observeClient(c: Connection, chunk: Uint8Array): CloseReason | null {
    const now = performance.now();
    c.lastActivity = c.lastClientByte = now;
    let rest = chunk;
    if (c.bodyLeft > 0) {
      const take = Math.min(c.bodyLeft, rest.length);
      c.bodyLeft -= take;
      rest = rest.subarray(take);
      if (c.bodyLeft === 0 && c.phase === "body") c.enter("busy", now);
    }
    if (rest.length === 0) return null;
    if (c.phase === "idle") c.startHead(now);
    // Bytes while busy are a pipelined request: the server reads it in turn.
    return c.phase === "head" ? this.scanHead(c, rest, now) : null;
  }

  private scanHead(c: Connection, bytes: Uint8Array, now: number): CloseReason | null {
    let i = 0;
    for (; i < bytes.length && c.matched < 4; i++) {
      const b = bytes[i];
      c.matched = b === CRLFCRLF[c.matched] ? c.matched + 1 : b === 13 ? 1 : 0;
      if (b === 10) {
        c.lineEnded = true;
        c.lines++;
      } else if (!c.lineEnded) c.lineBytes++;
    }
    c.headBytes += i;
    if (c.headText.length < this.maxHead) c.headText += latin1(bytes.subarray(0, i));
    if (c.lineBytes > this.maxLine) return "request-line-too-long";
    if (c.headBytes > this.maxHead || c.lines > MAX_HEAD_LINES) return "head-too-large";
    if (c.matched < 4) return null;
    // The head is complete: the body still owed is Content-Length minus what came with it.
    // Chunked bodies are left to the server and its request timeout.
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(c.headText);
    c.bodyLeft = length ? Math.max(0, Number(length[1]) - (bytes.length - i)) : 0;
    c.enter(c.bodyLeft > 0 ? "body" : "busy", now);
    return null;
  }

  private async reject(c: Connection, reason: CloseReason) {
    const [status, code, message] = reason === "request-line-too-long"
      ? [414, "uri_too_long", `The request line is longer than ${this.maxLine} bytes`]
      : [
        431,
        "headers_too_large",
        `The request head is longer than ${this.maxHead} bytes or has more than ` +
        `${MAX_HEADER_FIELDS} header fields`,
      ];
    c.closed = true;
    c.upstream?.close();
    await refuse(c.client, status, code, message);
    this.open.delete(c);
    this.count(reason);
  }

  /** Closes timed-out connections. */
  private sweep() {
    const now = performance.now();
    for (const c of this.open) {
      if (c.closed) continue;
      if (c.phase === "head" && now - c.since > this.opts.headerTimeoutMs) {
        this.timeOut(c, "header-timeout", "The request head did not arrive in time");
      } else if (c.phase === "body" && now - c.lastClientByte > this.opts.idleTimeoutMs) {
        this.timeOut(c, "body-timeout", "The request body stopped arriving");
      } else if (c.phase === "idle" && now - c.lastActivity > this.opts.idleTimeoutMs) {
        this.drop(c);
        this.count("idle-timeout");
      }
    }
  }

  private timeOut(c: Connection, reason: CloseReason, message: string) {
    c.closed = true;
    c.upstream?.close();
    this.open.delete(c);
    this.count(reason);
    void refuse(c.client, 408, "request_timeout", message);
  }

  /**
   * Closes one connection to make room; false when all are busy. A connection still waiting
   * for its first whole head (what a slowloris holds, and never a served client) goes first,
   * the one whose head began longest ago; then the longest-idle keep-alive (an event stream
   * sends a comment every 15 s, so it is rarely that one).
   */
  private shedOldestIdle(): boolean {
    let victim: Connection | null = null;
    const waited = (c: Connection) => c.phase === "head" && !c.upstream;
    for (const c of this.open) {
      if (c.closed || (c.phase !== "idle" && c.phase !== "head")) continue;
      if (!victim) victim = c;
      else if (waited(c) !== waited(victim)) victim = waited(c) ? c : victim;
      else if (
        (waited(c) ? c.since : c.lastActivity) <
          (waited(victim) ? victim.since : victim.lastActivity)
      ) {
        victim = c;
      }
    }
    if (!victim) return false;
    this.drop(victim);
    this.count("shed");
    return true;
  }

  private drop(c: Connection) {
    this.open.delete(c);
    if (c.closed) return;
    c.closed = true;
    for (const conn of [c.client, c.upstream]) {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
  }

  private count(reason: CloseReason) {
    this.opts.metrics?.connectionsClosed.inc({ reason });
  }
}

/** Answers a connection the guard will not serve in the service's JSON error shape, and closes it. */
async function refuse(conn: Deno.Conn, status: number, code: string, message: string) {
  const body = JSON.stringify({ error: { code, message } });
  const head = `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\ncontent-type: application/json\r\n` +
    `content-length: ${new TextEncoder().encode(body).length}\r\nconnection: close\r\n` +
    (status === 503 ? "retry-after: 1\r\n" : "") + "\r\n";
  await writeAll(conn, new TextEncoder().encode(head + body));
  try {
    conn.close();
  } catch { /* already closed */ }
}

const STATUS_TEXT: Record<number, string> = {
  408: "Request Timeout",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** Writes every byte; false when the peer is gone. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    return true;
  } catch {
    return false;
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The default connection cap: what the soft descriptor limit leaves after a reserve for the
 * store, the engine, job files and connections still closing, at three descriptors per connection (the client's socket
 * and both ends of its Unix-socket pipe to Deno.serve).
 */
export function defaultMaxConnections(limits = readDescriptorLimit()): number {
  if (limits === null) return 1024;
  // Generous: Deno.serve's own accept loop ends for good on EMFILE (main.ts then restarts it).
  const reserve = Math.max(128, Math.floor(limits / 4));
  return Math.max(8, Math.min(4096, Math.floor((limits - reserve) / 3)));
}

/**
 * The process's soft limit on open files, or null when it cannot be read. Asked of the shell
 * (`ulimit -n`, which a child inherits): Deno wants --allow-all to read /proc/self/limits.
 */
export function readDescriptorLimit(): number | null {
  try {
    const out = new Deno.Command("sh", { args: ["-c", "ulimit -n"], stderr: "null" }).outputSync();
    const text = new TextDecoder().decode(out.stdout).trim();
    return /^\d+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}
