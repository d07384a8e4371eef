// memcap's own scaling-law constants, fitted from its own runs by a study
// (`deno task experiment membership-law`) and written beside this file as
// fitted_constants.json. Until that study has run the file does not exist and
// POST /v1/predict with `constants: "fitted"` answers 409.
//
// The file is read at every request (it is tiny), so a study that writes it
// takes effect without a restart; a file that fails validation is an error,
// never silently replaced by the paper's constants.
//
// c1..c3 are for the law's token-form x = 1000·|D|·S/(64·params) (`lawX` in
// scaling_law.ts); files written before that form (x = 1000·|D|/params, equal
// only at S = 64) must be refitted by the study.
import { z } from "zod";
import type { LawConstants } from "./scaling_law.ts";

export const FITTED_CONSTANTS_URL = new URL("./fitted_constants.json", import.meta.url);

const Finite = z.number().refine(Number.isFinite, "must be finite");
const Alpha = z.number().positive().refine(Number.isFinite, "must be finite");

/** Version 1 of fitted_constants.json; a new shape gets a new version number. */
export const FittedConstantsFile = z.object({
  version: z.literal(1),
  fittedAt: z.iso.datetime({ offset: true }).describe("When the study fitted them (ISO 8601)."),
  source: z.string().min(1).describe("What produced them: study name, commit, adapter."),
  alpha: z.object({ fp32: Alpha, bf16: Alpha }).describe("Bits per parameter by precision."),
  c1: Finite.describe("Membership law ½(1 + c1·σ(c2·(x + c3))), x = 1000·|D|·S/(64·params)."),
  c2: Finite,
  c3: Finite,
  runs: z.number().int().min(1).describe("How many training runs the fit used."),
});
export type FittedConstantsFile = z.infer<typeof FittedConstantsFile>;

/** The file exists but is not valid JSON or not a valid version-1 document. */
export class FittedConstantsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FittedConstantsError";
  }
}

/** The fitted constants, or null when the file does not exist yet. */
export async function loadFittedConstants(
  path: string | URL = FITTED_CONSTANTS_URL,
): Promise<FittedConstantsFile | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FittedConstantsError(`fitted_constants.json: ${(e as Error).message}`);
  }
  const r = FittedConstantsFile.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new FittedConstantsError(`fitted_constants.json: ${issues.join("; ")}`);
  }
  return r.data;
}

/** The law's constants out of a validated file. */
export function lawConstants(f: FittedConstantsFile): LawConstants {
  return { alpha: { ...f.alpha }, c1: f.c1, c2: f.c2, c3: f.c3 };
}
