// Shapes of /v1/membership (zod v4) and the step from per-sequence scores to a stored
// result (lib/privacy/membership.ts does the math).
import { z } from "zod";
import { pageSchema } from "../store/schemas.ts";
import { auc, bestF1, f1AtMemberCount, rocCurve, thinRoc, tprAtFpr } from "./membership.ts";

/** Most points of a stored ROC curve (keeps a record far under the store's size limit). */
export const MAX_ROC_POINTS = 256;

/** The false-positive rates TPR is reported at, as response keys. */
export const REPORTED_FPRS = ["0.01", "0.001"] as const;

const EXAMPLE_IDS = {
  modelId: "mdl_01jz3k5q7r8s9t0v1w2x",
  membersDatasetId: "ds_01jz3k5q7r8s9t0v1w2x",
  nonMembersDatasetId: "ds_01jz3k5q7r8s9t0v1w2y",
};

export const MembershipRequest = z.object({
  modelId: z.string().describe("The model attacked (usually trained on the members)."),
  membersDatasetId: z.string().describe("Sequences the model was trained on."),
  nonMembersDatasetId: z.string().describe(
    "Sequences from the same distribution it never saw; as many as the members.",
  ),
}).meta({ id: "MembershipRequest", example: EXAMPLE_IDS });
export type MembershipRequest = z.infer<typeof MembershipRequest>;

const AtThreshold = z.object({
  f1: z.number(),
  threshold: z.number().describe("NLL in bits; predict member when NLL ≤ threshold."),
});

const Group = z.object({
  meanBits: z.number().describe("Mean NLL in bits (tokens 2..S)."),
});

const MembershipResultShape = z.object({
  id: z.string().describe("Result id (mia_...)."),
  createdAt: z.string(),
  modelId: z.string(),
  membersDatasetId: z.string(),
  nonMembersDatasetId: z.string(),
  count: z.int().describe("Sequences per side (members = non-members)."),
  f1: z.number().describe(
    "F1 at the threshold that maximizes it, on the balanced set. Its floor is 2/3 (call " +
      "everything a member); compare `balanced.f1` (0.5 = chance) with the paper and /v1/predict.",
  ),
  threshold: z.number().describe("Best-F1 threshold: predict member when NLL ≤ threshold (bits)."),
  accuracy: z.number().describe("(TP + TN) / 2·count at the best-F1 threshold."),
  balanced: AtThreshold.describe(
    "Flag exactly `count` sequences (the lowest NLLs; ties at the cut split at random in " +
      "expectation): precision = recall = accuracy = F1; 0.5 = chance, 1 = perfect.",
  ),
  auc: z.number().describe("Area under the ROC; ties count half; 0.5 = chance."),
  tprAtFpr: z.object({ "0.01": z.number(), "0.001": z.number() }).describe(
    "TPR at the largest threshold whose FPR ≤ the key (with fewer than 1/key non-members: " +
      "no false positive at all).",
  ),
  roc: z.array(z.object({ fpr: z.number(), tpr: z.number() })).describe(
    `The ROC, thinned to at most ${MAX_ROC_POINTS} points, from (0,0) to (1,1).`,
  ),
  members: Group,
  nonMembers: Group,
});
export type MembershipResult = z.infer<typeof MembershipResultShape>;
/** What the store keeps (id and createdAt live on the record). */
export type MembershipBody = Omit<MembershipResult, "id" | "createdAt">;

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Every figure of a result from the two sides' NLLs in bits (lower = member). */
export function membershipBody(
  ids: MembershipRequest,
  memberBits: ArrayLike<number>,
  nonMemberBits: ArrayLike<number>,
): MembershipBody {
  const roc = rocCurve(memberBits, nonMemberBits);
  const best = bestF1(roc);
  const balanced = f1AtMemberCount(roc);
  return {
    ...ids,
    count: memberBits.length,
    f1: best.f1,
    threshold: best.threshold,
    accuracy: best.accuracy,
    balanced: { f1: balanced.f1, threshold: balanced.threshold },
    auc: auc(roc),
    tprAtFpr: {
      "0.01": tprAtFpr(roc, 0.01).tpr,
      "0.001": tprAtFpr(roc, 0.001).tpr,
    },
    roc: thinRoc(roc, MAX_ROC_POINTS),
    members: { meanBits: mean(memberBits) },
    nonMembers: { meanBits: mean(nonMemberBits) },
  };
}

// A worked example: 4 members and 4 non-members scored by a model that has memorized
// some of its training set (declared after membershipBody so it is computed, never stale).
export const MembershipResult = MembershipResultShape.meta({
  id: "MembershipResult",
  example: {
    id: "mia_01jz3k5q7r8s9t0v1w2x",
    createdAt: "2025-06-01T12:00:00.000Z",
    ...membershipBody(EXAMPLE_IDS, [3.1, 9.8, 9.8, 20.5], [9.8, 24.2, 27.9, 27.9]),
  },
});

export const MembershipPage = pageSchema(MembershipResult, "MembershipResultPage");
