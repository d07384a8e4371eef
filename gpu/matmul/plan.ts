// Plans the matmul kernel of one shape: the "shared" variant for CPU
// rasterizers or the "generic" one for GPUs, as the tuning says (shape.ts
// says what both compute).
import type { MatmulPlan, MatmulShape, MatmulTuning } from "./shape.ts";
import { chooseShared, planShared } from "./shared.ts";
import { planGeneric } from "./generic.ts";

export function planMatmul(s: MatmulShape, tuning: MatmulTuning): MatmulPlan {
  if ((tuning.variant ?? "generic") === "shared") {
    return planShared(s, chooseShared(s, tuning), tuning.maxWorkgroupsPerDim);
  }
  return planGeneric(s, tuning);
}
