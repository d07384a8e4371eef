// text-memorization: the paper's text experiment, scaled to the scale asked.
// Real text can be generalized, so memorization is measured against an
// oracle (the largest model we afford, trained on a much larger pool of the
// same corpus): unintended memorization per sample is what the trained model
// knows of a sample beyond what the oracle predicts. For several model sizes
// and growing training sets (nested prefixes of one shuffled, deduplicated
// pool) it measures unintended memorization (the paper's Figure 2), train
// and test loss, a loss-threshold membership attack against an equally large
// held-out set, greedy extraction of suffixes on train and held-out
// sequences, and the rank correlation of memorization with TF-IDF; every
// step is an HTTP call, like any user's.
import {
  fmt,
  int,
  provenance,
  type Scale,
  type Study,
  type StudyContext,
  table,
  writeReport,
} from "../study.ts";
import { parameterCount } from "../../lib/model/config.ts";
import type { ModelConfig } from "../../lib/model/schemas.ts";
import { PALETTE, plotSvg } from "../../lib/plot/svg.ts";

interface TextScale {
  pool: {
    corpus: "brown";
    tokenizer: "byte" | "gpt2";
    seqLen: number;
    seed: number;
    heldOut: number;
  };
  sizes: { layers: number; dModel: number; heads: number }[];
  trainCounts: number[];
  /** The oracle trains on the whole train side of the pool (every sequence not held out). */
  oracle: { layers: number; dModel: number; heads: number; steps: number };
  steps: number;
  batchSize: number;
  lr: number;
  prefixLength: number;
  extractionSequences: number;
}

/** cpu: bytes (a vocabulary of ~90 symbols keeps tiny models from being all embedding). */
export function textScale(scale: Scale): TextScale {
  if (scale === "cpu") {
    return {
      pool: { corpus: "brown", tokenizer: "byte", seqLen: 32, seed: 0, heldOut: 4096 },
      sizes: [{ layers: 1, dModel: 16, heads: 2 }, { layers: 1, dModel: 32, heads: 4 }, {
        layers: 2,
        dModel: 32,
        heads: 4,
      }],
      trainCounts: [64, 256, 1024, 4096],
      oracle: { layers: 2, dModel: 64, heads: 8, steps: 8000 },
      steps: 4000,
      batchSize: 64,
      lr: 1e-2,
      prefixLength: 16,
      extractionSequences: 256,
    };
  }
  return {
    pool: { corpus: "brown", tokenizer: "gpt2", seqLen: 64, seed: 0, heldOut: 16384 },
    sizes: [32, 64, 128, 256].map((d) => ({ layers: 8, dModel: d, heads: Math.max(1, d / 32) })),
    trainCounts: [1024, 4096, 16384, 65536],
    oracle: { layers: 8, dModel: 256, heads: 8, steps: 100000 },
    steps: 50000,
    batchSize: 256,
    lr: 1e-3,
    prefixLength: 32,
    extractionSequences: 2048,
  };
}

interface Cell extends TrainingCost {
  layers: number;
  dModel: number;
  parameters: number;
  count: number;
  modelId: string;
  trainLossBits: number;
  testLossBits: number;
  unintendedBits: number;
  unintendedPerSample: number;
  totalBits: number;
  generalizationBits: number;
  membershipF1: number;
  membershipAuc: number;
  tprAt1Pct: number;
  extractionTrain: number;
  extractionHeldOut: number;
  tokenMatchTrain: number;
  tokenMatchHeldOut: number;
  spearmanTfidf: number | null;
  top: { index: number; bits: number; tfidf: number; text: string }[];
}

type Api = StudyContext["client"];

/** What a run's training cost: steps, tokens (steps × batch × S) and wall seconds. */
interface TrainingCost {
  steps: number;
  tokens: number;
  seconds: number;
}

/** A trained model and what its training cost. */
interface Trained extends TrainingCost {
  modelId: string;
}

/** The study's request bodies, built in one place so a test can check them against the schemas. */
export const textRequests = {
  /** A model of one of the study's shapes; only the shape's own fields (the service refuses unknown keys). */
  model: (
    t: TextScale,
    vocabSize: number,
    { layers, dModel, heads }: TextScale["sizes"][number],
  ) => ({
    config: { vocabSize, seqLen: t.pool.seqLen, layers, dModel, heads } satisfies ModelConfig,
    precision: "fp32" as const,
    seed: 0,
  }),
  run: (t: TextScale, modelId: string, datasetId: string, steps: number) => ({
    modelId,
    datasetId,
    optimizer: { type: "adamw" as const, lr: t.lr },
    batchSize: t.batchSize,
    steps,
    schedule: { kind: "cosine" as const, warmupSteps: 100 },
    evalEvery: steps,
  }),
  /** A split of the study's pool; without count, the whole split. */
  dataset: (t: TextScale, split: "train" | "heldout", count?: number) => ({
    kind: "text" as const,
    ...t.pool,
    split,
    ...(count === undefined ? {} : { count }),
  }),
};

async function trainedModel(
  api: Api,
  label: string,
  config: ModelConfig,
  datasetId: string,
  steps: number,
  t: TextScale,
): Promise<Trained> {
  const modelId = await api.ensure(
    `${label} model`,
    "models",
    textRequests.model(t, config.vocabSize, config),
  );
  const runId = await api.ensure(
    `${label} run`,
    "runs",
    textRequests.run(t, modelId, datasetId, steps),
  );
  const result = await api.waitRun(label, runId);
  return {
    modelId,
    steps: result.steps,
    tokens: result.steps * t.batchSize * config.seqLen,
    seconds: result.seconds,
  };
}

const dataset = (api: Api, t: TextScale, split: "train" | "heldout", count?: number) =>
  api.ensure(`${split} ${count ?? "all"}`, "datasets", textRequests.dataset(t, split, count));

async function bitsPerToken(api: Api, modelId: string, datasetId: string): Promise<number> {
  const r = await api.request<{ bitsPerToken: number }>(
    "POST",
    `/v1/models/${modelId}/likelihood`,
    {
      datasetId,
    },
  );
  return r.bitsPerToken;
}

async function run(ctx: StudyContext) {
  const t = textScale(ctx.scale);
  const api = ctx.client;
  const { seqLen } = t.pool;
  const oracleData = await dataset(api, t, "train");
  const { vocabSize, count: oracleCount } = await api.request<{ vocabSize: number; count: number }>(
    "GET",
    `/v1/datasets/${oracleData}`,
  );
  ctx.log(`pool: ${t.pool.corpus}, ${t.pool.tokenizer} tokens, S = ${seqLen}, V' = ${vocabSize}`);
  const shape = (size: TextScale["sizes"][number]) => textRequests.model(t, vocabSize, size).config;
  const oracleConfig = shape(t.oracle);
  const oracle = await trainedModel(
    api,
    "oracle (whole train split)",
    oracleConfig,
    oracleData,
    t.oracle.steps,
    t,
  );
  const { modelId: oracleId, ...oracleCost } = oracle;
  const testSet = await dataset(api, t, "heldout", Math.max(...t.trainCounts));
  const oracleTest = await bitsPerToken(api, oracleId, testSet);
  ctx.log(
    `oracle: ${int(parameterCount(oracleConfig))} parameters, test ${
      fmt(oracleTest, 3)
    } bits/token`,
  );

  const cells: Cell[] = [];
  for (const size of t.sizes) {
    const config = shape(size);
    for (const count of t.trainCounts) {
      const label = `L${size.layers} d${size.dModel} N${count}`;
      const train = await dataset(api, t, "train", count);
      const heldOut = await dataset(api, t, "heldout", count);
      const { modelId, ...cost } = await trainedModel(api, label, config, train, t.steps, t);
      const mem = await api.request<MemorizationAnswer>("POST", "/v1/memorization", {
        modelId,
        datasetId: train,
        reference: { kind: "model", modelId: oracleId },
        tfidf: true,
      });
      const membership = await api.request<MembershipAnswer>("POST", "/v1/membership", {
        modelId,
        membersDatasetId: train,
        nonMembersDatasetId: heldOut,
      });
      const extraction = await api.request<ExtractionAnswer>("POST", "/v1/extraction", {
        modelId,
        trainDatasetId: train,
        heldOutDatasetId: heldOut,
        prefixLengths: [t.prefixLength],
        maxSequences: t.extractionSequences,
      });
      const top = [];
      for (const s of (mem.topMemorized ?? []).slice(0, 5)) {
        const page = await api.request<{ texts?: string[] }>(
          "GET",
          `/v1/datasets/${train}/sequences?offset=${s.index}&limit=1&decode=true`,
        );
        top.push({ index: s.index, bits: s.bits, tfidf: s.tfidf, text: page.texts?.[0] ?? "" });
      }
      const row = extraction.results[0];
      const cell: Cell = {
        layers: size.layers,
        dModel: size.dModel,
        parameters: parameterCount(config),
        count,
        modelId,
        ...cost,
        trainLossBits: await bitsPerToken(api, modelId, train),
        testLossBits: await bitsPerToken(api, modelId, testSet),
        unintendedBits: mem.unintendedBits,
        unintendedPerSample: mem.unintendedBits / count,
        totalBits: mem.totalBits,
        generalizationBits: mem.generalizationBits,
        membershipF1: membership.balanced.f1,
        membershipAuc: membership.auc,
        tprAt1Pct: membership.tprAtFpr["0.01"],
        extractionTrain: row.train.exactMatchRate,
        extractionHeldOut: row.heldOut?.exactMatchRate ?? NaN,
        tokenMatchTrain: row.train.tokenMatchRate,
        tokenMatchHeldOut: row.heldOut?.tokenMatchRate ?? NaN,
        spearmanTfidf: mem.spearmanTfidfUnintended ?? null,
        top,
      };
      cells.push(cell);
      ctx.log(
        `${label}: unintended ${int(cell.unintendedBits)} bits, F1 ${fmt(cell.membershipF1, 3)}, ` +
          `extraction ${fmt(cell.extractionTrain, 3)} / ${fmt(cell.extractionHeldOut, 3)}`,
      );
    }
  }
  await writeReport(ctx.outDir, {
    ...figures(ctx.scale, cells),
    "results.json": JSON.stringify(
      {
        study: "text-memorization",
        scale: ctx.scale,
        settings: t,
        vocabSize,
        oracle: {
          id: oracleId,
          sequences: oracleCount,
          parameters: parameterCount(oracleConfig),
          testLossBits: oracleTest,
          ...oracleCost,
        },
        cells,
      },
      null,
      2,
    ),
    "report.md": report(ctx, t, vocabSize, oracleConfig, oracle, oracleCount, oracleTest, cells),
  });
}

interface MemorizationAnswer {
  unintendedBits: number;
  totalBits: number;
  generalizationBits: number;
  spearmanTfidfUnintended?: number | null;
  topMemorized?: { index: number; bits: number; tfidf: number }[];
}
interface MembershipAnswer {
  auc: number;
  balanced: { f1: number };
  tprAtFpr: Record<string, number>;
}
interface ExtractionAnswer {
  results: {
    train: { exactMatchRate: number; tokenMatchRate: number };
    heldOut: { exactMatchRate: number; tokenMatchRate: number } | null;
  }[];
}

/** Millions of training tokens, as the other reports print them. */
const tokenCount = (tokens: number) => `${fmt(tokens / 1e6, 1)}M`;

const sizeLabel = (c: { layers: number; dModel: number; parameters: number }) =>
  `${c.layers}L d${c.dModel} (${int(c.parameters)} params)`;

function bySize(cells: Cell[]) {
  const groups = new Map<string, Cell[]>();
  for (const c of cells) {
    const k = sizeLabel(c);
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  return [...groups];
}

function linesAgainstN(
  cells: Cell[],
  value: (c: Cell) => number,
  title: string,
  yLabel: string,
  extra: { label: string; value: (c: Cell) => number }[] = [],
  yScale: "linear" | "log" = "linear",
) {
  const series = bySize(cells).flatMap(([label, cs], i) => [
    {
      label,
      points: cs.map((c) => [c.count, value(c)] as const),
      marker: (["circle", "square", "triangle", "diamond"] as const)[i % 4],
      color: PALETTE[i % PALETTE.length],
    },
    ...extra.map((e) => ({
      label: `${label}: ${e.label}`,
      points: cs.map((c) => [c.count, e.value(c)] as const),
      dash: "5 3",
      color: PALETTE[i % PALETTE.length],
    })),
  ]);
  return plotSvg({
    title,
    width: 720,
    height: 460,
    idPrefix: title.replace(/\W+/g, "").slice(0, 12),
    x: { scale: "log", label: "training sequences |D|" },
    y: { scale: yScale, label: yLabel },
    series,
    legend: "top-right",
  });
}

function figures(scale: Scale, cells: Cell[]): Record<string, string> {
  return {
    "unintended.svg": linesAgainstN(
      cells,
      (c) => c.unintendedBits,
      `Unintended memorization against dataset size (${scale} scale)`,
      "unintended memorization, bits (vs oracle)",
    ),
    "loss.svg": linesAgainstN(
      cells,
      (c) => c.testLossBits,
      `Test loss (solid) and train loss (dashed) against dataset size`,
      "bits per token",
      [{ label: "train", value: (c) => c.trainLossBits }],
    ),
    "membership.svg": linesAgainstN(
      cells,
      (c) => c.membershipF1,
      "Membership inference F1 (balanced; 0.5 = chance) against dataset size",
      "F1",
    ),
    "extraction.svg": linesAgainstN(
      cells,
      (c) => c.extractionTrain,
      "Exact-suffix extraction: train (solid) and held-out (dashed)",
      "extraction rate",
      [{ label: "held-out", value: (c) => c.extractionHeldOut }],
    ),
  };
}

function report(
  ctx: StudyContext,
  t: TextScale,
  vocabSize: number,
  oracle: ModelConfig,
  oracleTraining: Trained,
  oracleCount: number,
  oracleTest: number,
  cells: Cell[],
): string {
  const largestN = Math.max(...t.trainCounts);
  const atLargest = cells.filter((c) => c.count === largestN);
  const topCell = cells.reduce((a, b) => (b.unintendedPerSample > a.unintendedPerSample ? b : a));
  return [
    `# text-memorization (${ctx.scale} scale)`,
    "",
    `The Brown corpus (POS tags stripped), ${
      t.pool.tokenizer === "byte" ? "UTF-8 bytes" : "GPT-2 BPE"
    }` +
    ` compacted to the ${vocabSize} ids that occur, cut into sequences of ${t.pool.seqLen} tokens, ` +
    `deduplicated, shuffled (seed ${t.pool.seed}); training sets are nested prefixes of the pool ` +
    `(|D| = ${t.trainCounts.join(", ")}), the held-out pool (${t.pool.heldOut} sequences) is ` +
    "disjoint from all of them.",
    "",
    `Reference (oracle): ${oracle.layers} layers, d = ${oracle.dModel}, ` +
    `${int(parameterCount(oracle))} parameters, trained ${int(t.oracle.steps)} steps on ` +
    `${int(oracleCount)} sequences (the whole pool but the held-out part, a superset of every ` +
    `training set); held-out loss ${fmt(oracleTest, 3)} bits/token. ` +
    "Unintended memorization of a sample = max(0, NLL_oracle − NLL_model) over tokens 2..S.",
    "",
    `Each model: AdamW lr ${t.lr}, batch ${t.batchSize}, ${int(t.steps)} cosine steps (a fixed ` +
    "budget, not trained to saturation). Membership: loss threshold between the training set " +
    "and an equally large held-out set, balanced F1 (0.5 = chance). Extraction: greedy decoding " +
    `of the last ${t.pool.seqLen - t.prefixLength} tokens from a ${t.prefixLength}-token prefix, ` +
    `exact match, on at most ${t.extractionSequences} sequences of each set.`,
    "",
    "## Findings",
    "",
    `- Membership F1 at the largest training set (|D| = ${largestN}): ` +
    atLargest.map((c) => `${c.layers}L d${c.dModel} ${fmt(c.membershipF1, 3)}`).join(", ") +
    "; at the smallest: " +
    cells.filter((c) => c.count === Math.min(...t.trainCounts))
      .map((c) => `${c.layers}L d${c.dModel} ${fmt(c.membershipF1, 3)}`).join(", ") +
    ".",
    `- Extraction at |D| = ${largestN}, train vs held-out: ` +
    atLargest.map((c) =>
      `${c.layers}L d${c.dModel} ${fmt(c.extractionTrain, 3)} vs ${fmt(c.extractionHeldOut, 3)}`
    )
      .join(", ") +
    ".",
    `- Most unintended memorization per sample: ${topCell.layers}L d${topCell.dModel} at ` +
    `|D| = ${topCell.count} (${fmt(topCell.unintendedPerSample, 1)} bits per sample).`,
    "",
    "![unintended](unintended.svg)",
    "",
    "![loss](loss.svg)",
    "",
    "![membership](membership.svg)",
    "",
    "![extraction](extraction.svg)",
    "",
    "## Every cell",
    "",
    table(
      [
        "model",
        "N (train sequences)",
        "train loss",
        "test loss",
        "unintended bits",
        "per sample",
        "generalization bits",
        "F1",
        "AUC",
        "TPR@1%FPR",
        "extract train",
        "extract held-out",
        "Spearman(TF-IDF, unintended)",
      ],
      cells.map((c) => [
        sizeLabel(c),
        c.count,
        fmt(c.trainLossBits, 3),
        fmt(c.testLossBits, 3),
        int(c.unintendedBits),
        fmt(c.unintendedPerSample, 1),
        int(c.generalizationBits),
        fmt(c.membershipF1, 3),
        fmt(c.membershipAuc, 3),
        fmt(c.tprAt1Pct, 3),
        fmt(c.extractionTrain, 3),
        fmt(c.extractionHeldOut, 3),
        fmt(c.spearmanTfidf, 3),
      ]),
    ),
    "",
    "Losses are bits per predicted token on the training set and on the held-out pool.",
    "",
    "## Budget and verdicts",
    "",
    `- Verdicts: none of the ${cells.length} models is a capacity measurement, and 0 of ` +
    `${cells.length} runs is certified: each trains its fixed ${int(t.steps)}-step cosine ` +
    "budget with no saturation check, so its unintended memorization is what that budget " +
    "reached, not a saturated figure. Capacities, with certificates, come from capacity " +
    "sweeps on uniform tokens (capacity-grid, reference).",
    `- Tokens spent: ${tokenCount(cells.reduce((n, c) => n + c.tokens, 0))} on the ` +
    `${cells.length} models (${tokenCount(cells[0]?.tokens ?? 0)} each: steps × batch ` +
    `${t.batchSize} × S ${t.pool.seqLen}) and ${tokenCount(oracleTraining.tokens)} on the ` +
    `oracle; training wall time ${fmt(cells.reduce((s, c) => s + c.seconds, 0) / 60, 1)} ` +
    `minutes for the models and ${fmt(oracleTraining.seconds / 60, 1)} for the oracle.`,
    "",
    "## The most memorized samples",
    "",
    `The five samples with the most unintended memorization for ${topCell.layers}L ` +
    `d${topCell.dModel} at |D| = ${topCell.count} (the paper: rare tokens, high TF-IDF):`,
    "",
    table(
      ["index", "unintended bits", "TF-IDF", "text"],
      topCell.top.map((
        s,
      ) => [s.index, fmt(s.bits, 1), fmt(s.tfidf, 3), "`" + s.text.replace(/[`|\n]/g, " ") + "`"]),
    ),
    "",
    provenance(
      ctx,
      [],
      "datasets, models, runs, memorization, membership, extraction: all through the HTTP API",
    ),
  ].join("\n");
}

export const textMemorization: Study = {
  name: "text-memorization",
  summary: "unintended memorization, membership F1 and extraction on text against dataset size",
  // Not capacity sweeps: datasets, models and runs through their own routes.
  requests: () => [],
  run,
};
