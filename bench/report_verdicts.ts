// Today's verdict rules applied to the committed capacity reports
// (docs/results/*/results.json): each run re-certified from its curve, each
// sweep refitted. Shows what the reports made before certificates existed
// would be called now. Prints `memcap verdicts: …` lines.
import { fitCapacity } from "../lib/capacity/fit.ts";
import { certify, type RunStatus } from "../lib/training/saturation.ts";

const REPORTS = [
  "docs/results/capacity-grid-cpu/results.json",
  "docs/results/capacity-grid-cpu-32000steps/results.json",
  "docs/results/gpu-h100/capacity-grid-paper-2000steps/results.json",
];

interface StoredRun {
  datasetSize: number;
  steps: number;
  curve: { step: number; bits: number }[];
}

export function reportVerdicts(paths = REPORTS): void {
  for (const path of paths) {
    const report = JSON.parse(Deno.readTextFileSync(path));
    let certified = 0;
    const sweeps = report.sweeps as { label: string; config: { seqLen: number }; result: any }[];
    for (const sw of sweeps) {
      const r = sw.result;
      const tokensPerStep = r.budget.batchSize * sw.config.seqLen;
      const points = r.points.map((p: { datasetSize: number; datasetBits: number }) => {
        const certs = (r.runs as StoredRun[]).filter((x) => x.datasetSize === p.datasetSize)
          .map((x) => certify(x.curve, { steps: x.steps, tokensPerStep }));
        return {
          datasetSize: p.datasetSize,
          datasetBits: p.datasetBits,
          memorizedBits: certs.map((c) => c.bestBits),
          statuses: certs.map((c) => c.status),
        };
      });
      const fit = fitCapacity(points, { parameterCount: r.parameterCount });
      if (fit.verdict === "certified") certified++;
      const letters = points.flatMap((p: { statuses: RunStatus[] }) => p.statuses)
        .map((s: RunStatus) => s[0]).join("");
      console.log(
        `memcap verdicts ${sw.label}: reported ${Math.round(r.capacityBits)} bits ` +
          `(plateau ${r.plateauReached}); now ${Math.round(fit.capacityBits)} bits, ` +
          `α ${fit.bitsPerParameter.toFixed(2)}, ${fit.verdict} ` +
          `[${fit.reasons.map((x) => x.code).join(", ")}]; runs by size ${letters} ` +
          "(s saturated, u unstable, b budget-exhausted)",
      );
    }
    console.log(`memcap verdicts ${path}: ${certified} of ${sweeps.length} sweeps certified`);
  }
}

if (import.meta.main) reportVerdicts();
