import assert from "node:assert/strict";
import { decodeFrame, encodeFrame, FrameReader } from "../../lib/rpc/frames.ts";
import { Peer, PeerClosedError, RemoteError } from "../../lib/rpc/peer.ts";

Deno.test("frames carry JSON with typed arrays, split anywhere in the byte stream", () => {
  const msg = {
    a: 1,
    w: new Float32Array([1.5, -2, 3e-8]),
    nested: { t: new Uint32Array([7, 8, 9, 10, 11]), b: new Float64Array([Math.PI]) },
    list: [new Uint8Array([1, 2, 3])],
    s: "é",
  };
  const bytes = new Uint8Array([...encodeFrame(msg), ...encodeFrame({ second: true })]);
  const reader = new FrameReader();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 5) frames.push(...reader.push(bytes.slice(i, i + 5)));
  assert.equal(frames.length, 2);
  const got = decodeFrame(frames[0]) as typeof msg;
  assert.deepEqual(got, msg);
  assert.ok(got.w instanceof Float32Array && got.nested.b instanceof Float64Array);
  assert.deepEqual(decodeFrame(frames[1]), { second: true });
});

function pipePair() {
  const ab = new TransformStream<Uint8Array, Uint8Array>();
  const ba = new TransformStream<Uint8Array, Uint8Array>();
  const aw = ab.writable.getWriter(), bw = ba.writable.getWriter();
  const a = new Peer(ba.readable, aw);
  const b = new Peer(ab.readable, bw);
  return {
    a,
    b,
    close: async () => {
      await aw.close().catch(() => {});
      await bw.close().catch(() => {});
      await Promise.all([a.done, b.done]);
    },
  };
}

Deno.test("peers call each other, errors keep their name and code, close fails pending calls", async () => {
  const { a, b, close } = pipePair();
  b.handle("sum", ({ xs }: { xs: Float64Array }) => xs.reduce((s, x) => s + x, 0));
  b.handle("boom", () => {
    const e = new RangeError("too big");
    (e as RangeError & { code: string }).code = "too_large";
    throw e;
  });
  // b calls back into a while answering a.
  a.handle("double", (x: number) => 2 * x);
  b.handle("viaA", async (x: number) => (await b.call<number>("double", x)) + 1);
  assert.equal(await a.call("sum", { xs: new Float64Array([1, 2, 3.5]) }), 6.5);
  assert.equal(await a.call("viaA", 20), 41);
  await assert.rejects(
    a.call("boom"),
    (e) => e instanceof RemoteError && e.name === "RangeError" && e.code === "too_large",
  );
  await assert.rejects(a.call("nope"), /no method nope/);
  b.handle("never", () => new Promise(() => {}));
  const hanging = a.call("never");
  a.close("the engine process exited");
  await assert.rejects(hanging, PeerClosedError);
  await close();
});
