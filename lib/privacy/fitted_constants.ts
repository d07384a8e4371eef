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
import type { LawConstants } from "./scaling_law.ts";
import { FittedConstantsFile } from "./schemas.ts";

export const FITTED_CONSTANTS_URL = new URL("./fitted_constants.json", import.meta.url);

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
