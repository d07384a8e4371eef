// Admission control (lib/admission.ts): the default budgets admit every request the studies,
// the README and the schema examples make, and refuse the audit's (issue 25, item 4) with a
// 422 over_budget naming the field, the estimate, the budget and its variable.
import assert from "node:assert/strict";
import {
  admit,
  capacityCost,
  datasetCost,
  DEFAULT_BUDGETS,
  modelCost,
  overBudget,
  runCost,
} from "../../lib/admission.ts";
import { CapacityCreateRequest } from "../../lib/capacity/schemas.ts";
import { loadConfig } from "../../lib/service_config.ts";
import { DatasetCreateRequest } from "../../lib/datasets/schemas.ts";
import { STUDIES } from "../../experiments/run.ts";
import { textScale } from "../../experiments/studies/text_memorization.ts";
import { ApiError } from "../../lib/http/errors.ts";
import { MAX_DATASET_TOKENS, MAX_SEQ_LEN, MAX_VOCAB_SIZE } from "../../lib/datasets/tokens.ts";
import { RunCreateRequest } from "../../lib/runs/schemas.ts";

const tiny = { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 };

function refusal(fn: () => void): ApiError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e;
  }
  assert.fail("admitted");
}

for (const scale of ["cpu", "paper"] as const) {
  Deno.test(`admission: every study sweep at --scale ${scale} is within the default budgets`, () => {
    for (const study of STUDIES) {
      for (const s of study.requests(scale, ["fp32", "bf16", "bf16-pure"])) {
        const req = CapacityCreateRequest.parse(s.request);
        const over = overBudget(capacityCost(req), DEFAULT_BUDGETS);
        assert.equal(over, null, `${study.name} ${s.label}: ${JSON.stringify(over)}`);
      }
    }
  });

  Deno.test(`admission: text-memorization at --scale ${scale} is within the default budgets`, () => {
    const t = textScale(scale);
    // The pool's size is only known once built; the counts are an upper bound for each cell.
    const vocabSize = t.pool.tokenizer === "gpt2" ? 50257 : 256;
    const counts = [...t.trainCounts, t.pool.heldOut];
    for (const count of counts) {
      const ds = { count, seqLen: t.pool.seqLen, vocabSize };
      admit(datasetCost(DatasetCreateRequest.parse({ kind: "text", ...t.pool, count })));
      for (const size of [...t.sizes, t.oracle]) {
        const config = { ...size, vocabSize, seqLen: t.pool.seqLen };
        admit(modelCost(config));
        const run = RunCreateRequest.parse({
          modelId: "m",
          datasetId: "d",
          optimizer: { type: "adamw", lr: t.lr },
          batchSize: t.batchSize,
          steps: Math.max(t.steps, t.oracle.steps),
        });
        admit(runCost(run, { config, precision: "fp32" }, ds));
      }
    }
  });
}

Deno.test("admission: the README and schema examples are admitted", () => {
  admit(datasetCost(DatasetCreateRequest.parse({
    kind: "uniform",
    vocabSize: 64,
    seqLen: 16,
    count: 200,
    seed: 1,
  })));
  admit(datasetCost(DatasetCreateRequest.parse({
    kind: "text",
    corpus: "brown",
    tokenizer: "gpt2",
    seqLen: 64,
    count: 4096,
    seed: 0,
  })));
  const example = CapacityCreateRequest.meta()?.example;
  admit(capacityCost(CapacityCreateRequest.parse(example)));
  admit(capacityCost(CapacityCreateRequest.parse({ config: tiny })));
  const run = RunCreateRequest.parse({
    modelId: "m",
    datasetId: "d",
    optimizer: { type: "adamw", lr: 0.01 },
    schedule: { kind: "cosine", warmupSteps: 100 },
    batchSize: 64,
    steps: 2000,
  });
  admit(
    runCost(run, { config: tiny, precision: "fp32" }, { count: 200, seqLen: 16, vocabSize: 64 }),
  );
});

Deno.test("admission: the largest allowed uniform dataset is admitted (streamed to disk)", () => {
  const req = DatasetCreateRequest.parse({
    kind: "uniform",
    vocabSize: MAX_VOCAB_SIZE,
    seqLen: MAX_SEQ_LEN,
    count: MAX_DATASET_TOKENS / MAX_SEQ_LEN,
  });
  const cost = datasetCost(req);
  admit(cost);
  assert.ok(cost.hostMemory!.amount <= 16 * 2 ** 20, "generated in chunks, not whole");
  assert.equal(cost.disk!.amount, 24 + MAX_DATASET_TOKENS * 4);
  // ...but not under a disk budget smaller than its file.
  const e = refusal(() => admit(cost, { ...DEFAULT_BUDGETS, diskBytes: 512 * 2 ** 20 }));
  assert.equal(e.status, 422);
  assert.equal(e.code, "over_budget");
  assert.match(
    e.message,
    /^body\.count: .*1\.0 GiB of disk.*512\.0 MiB \(MEMCAP_MAX_REQUEST_DISK_MB\)/,
  );
});

Deno.test("admission: the audit's sweeps are refused, naming body.seeds and the budget", () => {
  const audit = (seeds: number) =>
    CapacityCreateRequest.parse({ config: tiny, datasetSizes: [16777216], seeds });
  const four = refusal(() => admit(capacityCost(audit(4))));
  assert.equal(four.status, 422);
  assert.equal(four.code, "over_budget");
  assert.match(four.message, /^body\.seeds: .* GiB of host memory .*MEMCAP_MAX_HOST_MEMORY_MB/);
  const d = four.details as Record<string, unknown>;
  assert.equal(d.field, "body.seeds");
  assert.equal(d.variable, "MEMCAP_MAX_HOST_MEMORY_MB");
  assert.equal(d.budget, 2048 * 2 ** 20);
  assert.equal(d.largestFleetSize, 1);
  // Four models of 2^28 tokens each: at least 4 GiB of u32 tokens.
  assert.ok((d.estimate as number) >= 4 * 2 ** 30, String(d.estimate));

  const many = refusal(() => admit(capacityCost(audit(64))));
  assert.match(many.message, /^body\.maxFleetSize: /);

  // One model alone on a dataset larger than the budget names the dataset size.
  const big = CapacityCreateRequest.parse({ config: tiny, datasetSizes: [16777216] });
  const small = { ...DEFAULT_BUDGETS, hostMemoryBytes: 512 * 2 ** 20 };
  assert.match(
    refusal(() => admit(capacityCost(big, small), small)).message,
    /^body\.datasetSizes/,
  );

  // A raised budget admits them.
  const raised = { ...DEFAULT_BUDGETS, hostMemoryBytes: 8192 * 2 ** 20 };
  admit(capacityCost(audit(4), raised), raised);
});

Deno.test("admission: a sweep or run over the token budget names the field", () => {
  const sweep = CapacityCreateRequest.parse({
    config: tiny,
    datasetSizes: [100],
    seeds: 64,
    training: { maxSteps: 1_000_000, batchSize: 65536 },
    maxExtraSizes: 0,
  });
  const e = refusal(() => admit(capacityCost(sweep)));
  assert.match(e.message, /^body\.training\.maxSteps: .* training tokens .*MEMCAP_MAX_JOB_TOKENS/);
  const run = RunCreateRequest.parse({
    modelId: "m",
    datasetId: "d",
    optimizer: { type: "sgd", lr: 0.1 },
    batchSize: 65536,
    epochs: 1_000_000,
  });
  const ds = { count: 65536, seqLen: 4096, vocabSize: 64 };
  const r = refusal(() =>
    admit(runCost(run, { config: tiny, precision: "fp32" }, ds), {
      ...DEFAULT_BUDGETS,
      hostMemoryBytes: Infinity,
    })
  );
  assert.match(r.message, /^body\.epochs: /);
  // A run on the largest dataset holds it in both processes: over the default host budget.
  const steps = RunCreateRequest.parse({ ...run, epochs: undefined, steps: 10 });
  assert.match(
    refusal(() => admit(runCost(steps, { config: tiny, precision: "fp32" }, ds))).message,
    /^body\.datasetId: .* host memory/,
  );
});

Deno.test("admission: budgets come from the environment; 0 turns one off", () => {
  const c = loadConfig({
    MEMCAP_MAX_HOST_MEMORY_MB: "100",
    MEMCAP_MAX_JOB_TOKENS: "0",
    MEMCAP_MAX_REQUEST_DISK_MB: "",
  });
  assert.deepEqual(c.budgets, {
    hostMemoryBytes: 100 * 2 ** 20,
    jobTokens: Infinity,
    diskBytes: DEFAULT_BUDGETS.diskBytes,
  });
  assert.deepEqual(loadConfig({}).budgets, DEFAULT_BUDGETS);
  assert.throws(() => loadConfig({ MEMCAP_MAX_JOB_TOKENS: "-1" }), /MEMCAP_MAX_JOB_TOKENS/);
});
