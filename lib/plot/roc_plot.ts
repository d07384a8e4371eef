// The ROC curve of a membership-inference result as an SVG: true-positive rate against
// false-positive rate on linear [0, 1] axes, with the chance diagonal for scale.
import { plotSvg } from "./svg.ts";

export interface RocPlotInput {
  roc: readonly { fpr: number; tpr: number }[];
  auc: number;
  count: number;
}

export function rocPlotSvg(
  r: RocPlotInput,
  opts: { title?: string; width?: number; height?: number; idPrefix?: string } = {},
): string {
  const pct = (v: number) => `${Number(v.toFixed(1))}%`;
  return plotSvg({
    width: opts.width ?? 480,
    height: opts.height ?? 440,
    idPrefix: opts.idPrefix ?? "roc",
    title: opts.title ?? `Loss-threshold membership inference, ${r.count} + ${r.count} sequences`,
    x: {
      min: 0,
      max: 1,
      label: "false positive rate (non-members flagged)",
      format: (v) => pct(100 * v),
    },
    y: {
      min: 0,
      max: 1,
      label: "true positive rate (members flagged)",
      format: (v) => pct(100 * v),
    },
    series: [
      {
        label: "chance",
        points: [[0, 0], [1, 1]],
        color: "#999999",
        width: 1,
        dash: "6 4",
        excludeFromRange: true,
      },
      {
        label: `ROC (AUC ${r.auc.toFixed(3)})`,
        points: r.roc.map((p) => [p.fpr, p.tpr] as const),
        color: "#0072B2",
      },
    ],
    legend: "bottom-right",
  });
}
