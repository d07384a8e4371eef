import assert from "node:assert/strict";
import {
  bfloat16Bytes,
  decodeSafetensors,
  encodeSafetensors,
  float32Bytes,
  type NamedTensor,
  SafetensorsError,
  tensorToFloat32,
} from "../../lib/safetensors.ts";
import {
  configFromMetadata,
  exportWeights,
  importWeights,
  precisionFromMetadata,
  WeightsError,
} from "../../lib/model/weights.ts";
import { parameterCount } from "../../lib/model/config.ts";
import type { ModelConfig } from "../../lib/model/schemas.ts";
import { tensorLayout } from "../../lib/model/layout.ts";
import { initialParameters } from "../../lib/model/init.ts";
import { roundToBf16 } from "../../lib/bf16.ts";
import { Rng } from "../../lib/prng.ts";

const tiny: ModelConfig = { vocabSize: 11, seqLen: 5, layers: 2, dModel: 8, heads: 2 };

/** A file with a hand-written header (string or object) and data section. */
function rawFile(header: unknown, data = new Uint8Array(0), pad = true): Uint8Array {
  let json = typeof header === "string" ? header : JSON.stringify(header);
  if (pad) { while ((json.length % 8) !== 0) json += " "; }
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function randomParams(c: ModelConfig, seed: number): Float32Array {
  const rng = new Rng(seed);
  const p = new Float32Array(parameterCount(c));
  for (let i = 0; i < p.length; i++) p[i] = rng.normal() * 0.5;
  return p;
}

/** Decodes, edits the tensors with `edit`, and re-encodes (keeping metadata). */
function rewrite(bytes: Uint8Array, edit: (t: NamedTensor[]) => NamedTensor[]): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const list = [...tensors].map(([name, t]) => ({ name, ...t }));
  return encodeSafetensors(edit(list), metadata);
}

function throwsWith(fn: () => unknown, cls: new (...a: any[]) => Error, re: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

Deno.test("safetensors: encode writes the documented layout", () => {
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const bytes = encodeSafetensors(
    [
      { name: "b", dtype: "I32", shape: [2], data: new Uint8Array(new Int32Array([7, -8]).buffer) },
      { name: "a", dtype: "F32", shape: [2, 3], data: float32Bytes(a) },
    ],
    { z: "1", format: "pt" },
  );
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.equal(
    text.trimEnd(),
    '{"__metadata__":{"format":"pt","z":"1"},' +
      '"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},' +
      '"b":{"dtype":"I32","shape":[2],"data_offsets":[24,32]}}',
  );
  assert.equal(bytes.length, 8 + n + 32);

  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { format: "pt", z: "1" });
  assert.deepEqual([...tensors.keys()], ["a", "b"]);
  assert.deepEqual(tensors.get("a")!.shape, [2, 3]);
  assert.deepEqual(tensorToFloat32(tensors.get("a")!), a);
  const b = tensors.get("b")!;
  assert.equal(b.dtype, "I32");
  assert.deepEqual([...new Int32Array(b.data.slice().buffer)], [7, -8]);
});

Deno.test("safetensors: output does not depend on input order and round-trips", () => {
  const t1 = { name: "x", dtype: "U8" as const, shape: [3], data: new Uint8Array([1, 2, 3]) };
  const t2 = {
    name: "w",
    dtype: "F32" as const,
    shape: [],
    data: float32Bytes(new Float32Array([9])),
  };
  const t3 = { name: "empty", dtype: "F32" as const, shape: [0, 4], data: new Uint8Array(0) };
  const one = encodeSafetensors([t1, t2, t3], { b: "2", a: "1" });
  const two = encodeSafetensors([t3, t2, t1], { a: "1", b: "2" });
  assert.deepEqual(one, two);
  const again = rewrite(one, (t) => t);
  assert.deepEqual(again, one);
  assert.deepEqual(decodeSafetensors(one).tensors.get("empty")!.shape, [0, 4]);
});

Deno.test("safetensors: encode rejects inconsistent tensors", () => {
  const d = new Uint8Array(8);
  throwsWith(
    () => encodeSafetensors([{ name: "a", dtype: "F32", shape: [3], data: d }]),
    SafetensorsError,
    /"a".*needs 12 bytes, got 8/,
  );
  throwsWith(
    () =>
      encodeSafetensors([
        { name: "a", dtype: "F32", shape: [2], data: d },
        { name: "a", dtype: "F32", shape: [2], data: d },
      ]),
    SafetensorsError,
    /appears twice/,
  );
  throwsWith(
    () => encodeSafetensors([{ name: "__metadata__", dtype: "U8", shape: [8], data: d }]),
    SafetensorsError,
    /cannot name a tensor/,
  );
});

Deno.test("safetensors: bad headers are rejected with clear errors", () => {
  const four = new Uint8Array(4);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(5), /5 bytes.*8-byte header length/],
    [
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
        return b;
      })(),
      /exceeds the 100000000-byte limit/,
    ],
    [
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 100n, true);
        return b;
      })(),
      /runs past the end of the 16-byte file/,
    ],
    [
      (() => {
        const b = new Uint8Array(9);
        new DataView(b.buffer).setBigUint64(0, 1n, true);
        return b;
      })(),
      /too small/,
    ],
    [rawFile('{"a": '), /not well-formed JSON/],
    [rawFile("[1, 2]   "), /starting with '\{'/],
    [rawFile("null    "), /starting with '\{'/],
    [
      (() => {
        const f = rawFile('{"a":1}  ');
        f[10] = 0xff;
        return f;
      })(),
      /not valid UTF-8/,
    ],
    [rawFile({ a: 5 }), /"a": entry must be an object/],
    [
      rawFile({ a: { dtype: "F33", shape: [1], data_offsets: [0, 4] } }, four),
      /unknown dtype "F33"/,
    ],
    [rawFile({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, four), /bad dimension -1/],
    [rawFile({ a: { dtype: "F32", shape: "4", data_offsets: [0, 4] } }, four), /shape must be/],
    [rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [0] } }, four), /data_offsets must be/],
    [rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, four), /end before/],
    [rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, four), /run past the 4/],
    [rawFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, four), /needs 8 bytes/],
    [
      rawFile(
        {
          a: { dtype: "U8", shape: [4], data_offsets: [0, 4] },
          b: { dtype: "U8", shape: [2], data_offsets: [2, 4] },
        },
        four,
      ),
      /"b" overlaps tensor "a"/,
    ],
    [rawFile({ a: { dtype: "U8", shape: [2], data_offsets: [2, 4] } }, four), /gap of 2 bytes/],
    [rawFile({ a: { dtype: "U8", shape: [2], data_offsets: [0, 2] } }, four), /trailing bytes/],
    [rawFile({ __metadata__: { a: 1 } }), /"__metadata__"."a" must be a string/],
    [rawFile({ __metadata__: [] }), /"__metadata__" must be an object/],
  ];
  for (const [bytes, re] of cases) throwsWith(() => decodeSafetensors(bytes), SafetensorsError, re);
});

Deno.test("safetensors: accepts an unpadded header and tensors in any offset order", () => {
  const data = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const f = rawFile(
    {
      b: { dtype: "U8", shape: [2], data_offsets: [0, 2] },
      a: { dtype: "U16", shape: [2], data_offsets: [2, 6] },
    },
    data,
    false,
  );
  const { tensors } = decodeSafetensors(f);
  assert.deepEqual([...tensors.keys()], ["a", "b"]);
  assert.deepEqual([...tensors.get("a")!.data], [3, 4, 5, 6]);
});

Deno.test("safetensors: BF16 and F16 decode to float32", () => {
  // bf16 0x3F80 = 1, 0xC000 = -2, 0x3EAB ~ 0.333984375, 0x7F80 = +inf
  const bf = new Uint8Array([0x80, 0x3f, 0x00, 0xc0, 0xab, 0x3e, 0x80, 0x7f]);
  const vals = tensorToFloat32({ dtype: "BF16", shape: [4], data: bf });
  assert.deepEqual([...vals], [1, -2, 0.333984375, Infinity]);
  // f16 0x3C00 = 1, 0xC000 = -2, 0x0001 = 2^-24, 0x7BFF = 65504
  const h = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b]);
  assert.deepEqual([...tensorToFloat32({ dtype: "F16", shape: [4], data: h })], [
    1,
    -2,
    2 ** -24,
    65504,
  ]);
  // bfloat16Bytes rounds to nearest even, as lib/bf16 does.
  const x = new Float32Array([1 / 3, -1e-3, 3.14159, 1 + 2 ** -8, 1 + 3 * 2 ** -8]);
  const r = x.slice();
  roundToBf16(r);
  assert.deepEqual(tensorToFloat32({ dtype: "BF16", shape: [5], data: bfloat16Bytes(x) }), r);
});

Deno.test("weights: export -> import -> export is byte for byte (fp32, bf16, bf16-pure)", () => {
  for (const precision of ["fp32", "bf16", "bf16-pure"] as const) {
    const params = randomParams(tiny, 3);
    const first = exportWeights(tiny, params, precision, { note: "hello" });
    const { params: back, metadata } = importWeights(tiny, first);
    const expected = params.slice();
    // Both bf16 modes export the model, whose weights are bf16 values.
    if (precision !== "fp32") roundToBf16(expected);
    assert.deepEqual(back, expected);
    assert.equal(metadata.note, "hello");
    assert.equal(metadata.format, "pt");
    assert.deepEqual(configFromMetadata(metadata), tiny);
    assert.equal(precisionFromMetadata(metadata), precision);
    assert.equal(metadata["memcap.parameterCount"], String(parameterCount(tiny)));
    const second = exportWeights(tiny, back, precision, metadata);
    assert.deepEqual(second, first);
    assert.deepEqual(importWeights(tiny, first, { precision }).params, expected);
  }
  assert.equal(precisionFromMetadata({ "memcap.precision": "fp16" }), null);
  assert.throws(() => exportWeights(tiny, randomParams(tiny, 3), "fp16" as "fp32"), /precision/);
});

Deno.test("weights: export writes every HF GPT-2 tensor as F32 and no lm_head", () => {
  const params = initialParameters(tiny, 1);
  const { tensors } = decodeSafetensors(exportWeights(tiny, params, "fp32"));
  const specs = tensorLayout(tiny);
  assert.equal(tensors.size, specs.length);
  assert.ok(!tensors.has("lm_head.weight"));
  for (const s of specs) {
    const t = tensors.get(s.name)!;
    assert.equal(t.dtype, "F32");
    assert.deepEqual(t.shape, s.shape);
    assert.deepEqual(tensorToFloat32(t), params.subarray(s.offset, s.offset + s.size));
  }
  assert.deepEqual(tensors.get("transformer.h.1.attn.c_attn.weight")!.shape, [8, 24]);
  throwsWith(
    () => exportWeights(tiny, new Float32Array(3), "fp32"),
    WeightsError,
    /params has 3 floats/,
  );
});

Deno.test("weights: import rejects a shape mismatch naming the tensor", () => {
  const good = exportWeights(tiny, randomParams(tiny, 4), "fp32");
  const bad = rewrite(
    good,
    (ts) =>
      ts.map((t) => t.name === "transformer.h.1.mlp.c_fc.weight" ? { ...t, shape: [32, 8] } : t),
  );
  throwsWith(
    () => importWeights(tiny, bad),
    WeightsError,
    /"transformer\.h\.1\.mlp\.c_fc\.weight" has shape \[32,8\]; the model needs \[8,32\]/,
  );
  // A file for a different config fails on the first differing tensor.
  throwsWith(
    () => importWeights({ ...tiny, vocabSize: 12 }, good),
    WeightsError,
    /"transformer\.wte\.weight" has shape \[11,8\]; the model needs \[12,8\]/,
  );
  const missing = rewrite(good, (ts) => ts.filter((t) => t.name !== "transformer.ln_f.bias"));
  throwsWith(
    () => importWeights(tiny, missing),
    WeightsError,
    /"transformer\.ln_f\.bias" is missing/,
  );
  throwsWith(
    () => importWeights({ ...tiny, layers: 3 }, good),
    WeightsError,
    /"transformer\.h\.2\.ln_1\.weight" is missing/,
  );
});

Deno.test("weights: import checks dtype, finiteness and extra tensors", () => {
  const params = randomParams(tiny, 5);
  const good = exportWeights(tiny, params, "fp32");
  const wte = decodeSafetensors(good).tensors.get("transformer.wte.weight")!;
  const mask = { dtype: "F32" as const, shape: [1, 1, 5, 5], data: new Uint8Array(100) };

  // GPT-2's buffers and a tied lm_head are fine.
  const withBuffers = rewrite(good, (ts) => [
    ...ts,
    { name: "transformer.h.0.attn.bias", ...mask },
    { name: "transformer.h.1.attn.masked_bias", dtype: "F32", shape: [], data: new Uint8Array(4) },
    { name: "lm_head.weight", ...wte, data: wte.data.slice() },
  ]);
  assert.deepEqual(importWeights(tiny, withBuffers).params, params);

  const untied = wte.data.slice();
  untied[5] ^= 1;
  throwsWith(
    () =>
      importWeights(
        tiny,
        rewrite(good, (ts) => [...ts, { name: "lm_head.weight", ...wte, data: untied }]),
      ),
    WeightsError,
    /"lm_head\.weight" differs from "transformer\.wte\.weight"/,
  );
  throwsWith(
    () =>
      importWeights(
        tiny,
        rewrite(good, (ts) => [...ts, { name: "transformer.h.7.attn.bias", ...mask }, {
          name: "extra",
          dtype: "U8",
          shape: [1],
          data: new Uint8Array(1),
        }]),
      ),
    WeightsError,
    /unexpected tensors "extra", "transformer\.h\.7\.attn\.bias"/,
  );
  throwsWith(
    () =>
      importWeights(
        tiny,
        rewrite(good, (ts) =>
          ts.map((t) =>
            t.name === "transformer.wpe.weight" ? { ...t, dtype: "I32", data: t.data } : t
          )),
      ),
    WeightsError,
    /"transformer\.wpe\.weight": dtype I32 is not supported/,
  );
  const nan = rewrite(good, (ts) =>
    ts.map((t) => {
      if (t.name !== "transformer.h.0.ln_2.bias") return t;
      const v = tensorToFloat32(t);
      v[3] = NaN;
      return { ...t, data: float32Bytes(v) };
    }));
  throwsWith(
    () => importWeights(tiny, nan),
    WeightsError,
    /"transformer\.h\.0\.ln_2\.bias".*non-finite/,
  );
  throwsWith(() => importWeights(tiny, new Uint8Array(3)), SafetensorsError, /8-byte header/);
});

Deno.test("weights: import reads BF16 tensors and unprefixed GPT2Model names", () => {
  const params = randomParams(tiny, 6);
  const fp32 = exportWeights(tiny, params, "fp32");
  const bf16File = rewrite(fp32, (ts) =>
    ts.map((t) => ({
      name: t.name.replace(/^transformer\./, ""),
      dtype: "BF16",
      shape: t.shape,
      data: bfloat16Bytes(tensorToFloat32(t)),
    })));
  assert.ok(decodeSafetensors(bf16File).tensors.has("wte.weight"));
  const expected = params.slice();
  roundToBf16(expected);
  const { params: back } = importWeights(tiny, bf16File, { precision: "bf16" });
  assert.deepEqual(back, expected);
  // A bf16 export re-imported as bf16 is unchanged; F32 import with bf16 rounding agrees.
  assert.deepEqual(importWeights(tiny, fp32, { precision: "bf16" }).params, expected);
  assert.deepEqual(exportWeights(tiny, back, "bf16"), exportWeights(tiny, params, "bf16"));
});

Deno.test("weights: configFromMetadata validates", () => {
  assert.equal(configFromMetadata({}), null);
  throwsWith(() => configFromMetadata({ "memcap.config": "{" }), WeightsError, /not JSON/);
  throwsWith(
    () => configFromMetadata({ "memcap.config": JSON.stringify({ ...tiny, heads: 3 }) }),
    WeightsError,
    /heads/,
  );
});
