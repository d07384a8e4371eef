// POST /v1/predict: served without a store or an engine; paper constants give the paper's
// numbers; "fitted" is a 409 until the study writes its file, then that file is used.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createErrorHandler } from "../../lib/http/errors.ts";
import { createApp } from "../../routes/app.ts";
import { predictRouter } from "../../routes/predict.ts";
import { FITTED_CONSTANTS_URL } from "../../lib/privacy/fitted_constants.ts";
import { call } from "./_service.ts";
import { fakeGpu } from "./_probe.ts";

const gpt2xl = {
  parameters: 1_560_000_000,
  precision: "fp32",
  seqLen: 64,
  vocabSize: 50257,
  datasetSequences: 76_800_000,
  constants: "paper",
};

Deno.test("predict with the paper's constants", async () => {
  const app = createApp({ gpu: fakeGpu });
  const r = await call(app, "POST", "/v1/predict", gpt2xl);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  // x = 1000·76.8e6/1.56e9 = 49.23 (S = 64); ½(1 + 1.34·σ(-0.034·16.09)) = 0.7456.
  assert.ok(Math.abs(r.json.membershipF1 - 0.7456) < 1e-4, `${r.json.membershipF1}`);
  assert.equal(r.json.lawX, r.json.sequencesPerThousandParameters);
  // The same sizes at S = 32: x = 24.62; ½(1 + 1.34·σ(-0.034·-8.52)) = 0.8832.
  const s32 = await call(app, "POST", "/v1/predict", { ...gpt2xl, seqLen: 32 });
  assert.ok(Math.abs(s32.json.lawX - r.json.lawX / 2) < 1e-9);
  assert.ok(Math.abs(s32.json.membershipF1 - 0.8832) < 1e-4, `${s32.json.membershipF1}`);
  assert.equal(r.json.clamped, false);
  assert.equal(r.json.capacityBits, 3.83 * 1_560_000_000);
  const bits = 76_800_000 * Math.log2(50257);
  assert.ok(Math.abs(r.json.datasetBits - 63 * bits) < 1e-3 * bits);
  assert.ok(Math.abs(r.json.paperConvention.datasetBits - 64 * bits) < 1e-3 * bits);
  assert.equal(r.json.expectedMemorizationBits, r.json.capacityBits);
  assert.equal(r.json.limitedBy, "capacity");
  assert.ok(Math.abs(r.json.tokensPerParameter - 3.15) < 0.01);
  assert.deepEqual(
    { ...r.json.constants, source: undefined },
    { name: "paper", alpha: 3.83, c1: 1.34, c2: -0.034, c3: -33.14, source: undefined },
  );

  const bf16 = await call(app, "POST", "/v1/predict", { ...gpt2xl, precision: "bf16" });
  assert.equal(bf16.json.constants.alpha, 3.51);
  // Defaults: fp32 and the paper's constants.
  const bare = await call(app, "POST", "/v1/predict", {
    parameters: 1000,
    seqLen: 8,
    vocabSize: 16,
    datasetSequences: 1,
  });
  assert.equal(bare.status, 200, JSON.stringify(bare.json));
  assert.equal(bare.json.constants.name, "paper");
  assert.equal(bare.json.capacityBits, 3830);
  // x = 1 < 1.41: the law is above 1, so F1 is clamped and says so.
  assert.equal(bare.json.membershipF1, 1);
  assert.ok(bare.json.membershipF1Law > 1);
  assert.equal(bare.json.clamped, true);
});

Deno.test("predict: 422 naming the field", async () => {
  const app = createApp({ gpu: fakeGpu });
  for (
    const [patch, field] of [
      [{ parameters: 0 }, "body.parameters"],
      [{ parameters: 1.5 }, "body.parameters"],
      [{ seqLen: 1 }, "body.seqLen"],
      [{ vocabSize: "16" }, "body.vocabSize"],
      [{ datasetSequences: -1 }, "body.datasetSequences"],
      [{ precision: "fp16" }, "body.precision"],
      [{ constants: "mine" }, "body.constants"],
      [{ parameters: 1e300 }, "body.parameters"],
    ] as const
  ) {
    const r = await call(app, "POST", "/v1/predict", { ...gpt2xl, ...patch });
    assert.equal(r.status, 422, `${JSON.stringify(patch)}: ${JSON.stringify(r.json)}`);
    assert.match(r.json.error.message, new RegExp(field.replace(".", "\\.")));
  }
});

/** The predict router alone, reading fitted constants from `path`, with the app's errors. */
function predictApp(path: string) {
  const app = new Hono();
  app.onError(createErrorHandler({ log: () => {} }));
  app.route("/", predictRouter({ gpu: fakeGpu }, { fittedConstantsPath: path }).hono);
  return app;
}

const FITTED_FILE = {
  version: 1,
  fittedAt: "2025-07-01T00:00:00Z",
  source: "membership-law study",
  alpha: { fp32: 2.6, bf16: 2.4 },
  c1: 1,
  c2: -0.05,
  c3: -20,
  runs: 12,
};

Deno.test("predict with fitted constants: 409 until the file exists, then it is used", async () => {
  const dir = await Deno.makeTempDir({ prefix: "memcap_fitted_" });
  try {
    const path = `${dir}/fitted_constants.json`;
    const app = predictApp(path);
    const ask = (body: unknown) => call(app as never, "POST", "/v1/predict", body);
    const body = {
      parameters: 1000,
      seqLen: 64,
      vocabSize: 16,
      datasetSequences: 20,
      constants: "fitted",
    };
    const none = await ask(body);
    assert.equal(none.status, 409, JSON.stringify(none.json));
    assert.equal(none.json.error.code, "no_fitted_constants");
    assert.match(none.json.error.message, /deno task experiment membership-law/);

    // The study writes the file: the next request uses it, no restart.
    await Deno.writeTextFile(path, JSON.stringify(FITTED_FILE));
    const fitted = await ask(body);
    assert.equal(fitted.status, 200, JSON.stringify(fitted.json));
    assert.equal(fitted.json.capacityBits, 2600);
    // x = 1000·20·64/(64·1000) = 20: ½(1 + 1·σ(0)) = 0.75.
    assert.equal(fitted.json.lawX, 20);
    assert.equal(fitted.json.membershipF1, 0.75);
    // S = 32 halves x: 10, ½(1 + σ(0.5)) = 0.81123.
    const short = await ask({ ...body, seqLen: 32 });
    assert.equal(short.json.lawX, 10);
    assert.equal(short.json.sequencesPerThousandParameters, 20);
    assert.ok(Math.abs(short.json.membershipF1 - 0.81123) < 1e-5, `${short.json.membershipF1}`);
    assert.deepEqual(fitted.json.constants, {
      name: "fitted",
      alpha: 2.6,
      c1: 1,
      c2: -0.05,
      c3: -20,
      source: "membership-law study",
      version: 1,
      fittedAt: "2025-07-01T00:00:00Z",
      runs: 12,
    });

    // A broken file is the server's fault and says what is wrong; never the paper's numbers.
    await Deno.writeTextFile(path, JSON.stringify({ ...FITTED_FILE, c2: "steep" }));
    const broken = await ask(body);
    assert.equal(broken.status, 500);
    assert.equal(broken.json.error.code, "invalid_fitted_constants");
    assert.match(broken.json.error.message, /c2/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the service's own fitted constants: 409 while the study has not run, else used", async () => {
  const exists = (await Deno.stat(FITTED_CONSTANTS_URL).catch(() => null)) !== null;
  const r = await call(createApp({ gpu: fakeGpu }), "POST", "/v1/predict", {
    ...gpt2xl,
    constants: "fitted",
  });
  if (exists) {
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.constants.name, "fitted");
  } else {
    assert.equal(r.status, 409, JSON.stringify(r.json));
    assert.equal(r.json.error.code, "no_fitted_constants");
  }
});
