// Request/response over frames in both directions: either side may call a
// method the other serves. Used between the service and its engine process.
import { decodeFrame, encodeFrame, FrameReader } from "./frames.ts";

type Message =
  | { t: "req"; id: number; method: string; params: unknown }
  | { t: "res"; id: number; result?: unknown; error?: RemoteErrorInfo };

export interface RemoteErrorInfo {
  name: string;
  message: string;
  code?: string;
}

/** An error thrown by the other side, with its name and code kept. */
export class RemoteError extends Error {
  readonly code?: string;
  constructor(info: RemoteErrorInfo) {
    super(info.message);
    this.name = info.name;
    this.code = info.code;
  }
}

/** The connection closed (the other process exited) before an answer came. */
export class PeerClosedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "PeerClosedError";
  }
}

export type Handler = (params: any) => Promise<unknown> | unknown;

export class Peer {
  private nextId = 1;
  private pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private handlers = new Map<string, Handler>();
  private writing: Promise<void> = Promise.resolve();
  private closedReason: string | null = null;
  readonly done: Promise<void>;

  constructor(
    readable: ReadableStream<Uint8Array>,
    private writable: WritableStreamDefaultWriter<Uint8Array>,
  ) {
    this.done = this.readLoop(readable);
  }

  /** True once the connection is gone (calls then fail at once). */
  get closed(): boolean {
    return this.closedReason !== null;
  }

  handle(method: string, handler: Handler): this {
    this.handlers.set(method, handler);
    return this;
  }

  call<T = unknown>(method: string, params: unknown = null): Promise<T> {
    if (this.closedReason) return Promise.reject(new PeerClosedError(this.closedReason));
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.send({ t: "req", id, method, params }).catch((e) => this.fail(id, e));
    return p;
  }

  /** Fails every pending call with `reason` (the other side is gone). */
  close(reason: string) {
    if (this.closedReason) return;
    this.closedReason = reason;
    for (const [, p] of this.pending) p.reject(new PeerClosedError(reason));
    this.pending.clear();
  }

  private fail(id: number, e: unknown) {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(e instanceof Error ? e : new Error(String(e)));
  }

  private send(m: Message): Promise<void> {
    const frame = encodeFrame(m);
    this.writing = this.writing.then(() => this.writable.write(frame));
    return this.writing;
  }

  private async readLoop(readable: ReadableStream<Uint8Array>) {
    const frames = new FrameReader();
    try {
      for await (const chunk of readable) {
        for (const f of frames.push(chunk)) this.dispatch(decodeFrame(f) as Message);
      }
      this.close("the connection closed");
    } catch (e) {
      this.close(`the connection broke: ${e instanceof Error ? e.message : e}`);
    }
  }

  private dispatch(m: Message) {
    if (m.t === "res") {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new RemoteError(m.error));
      else p.resolve(m.result);
      return;
    }
    const handler = this.handlers.get(m.method);
    const reply = async () => {
      try {
        if (!handler) throw new Error(`no method ${m.method}`);
        const result = await handler(m.params);
        await this.send({ t: "res", id: m.id, result: result ?? null });
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        await this.send({
          t: "res",
          id: m.id,
          error: {
            name: err.name,
            message: err.message,
            code: (err as { code?: string }).code,
          },
        }).catch(() => {});
      }
    };
    void reply();
  }
}
