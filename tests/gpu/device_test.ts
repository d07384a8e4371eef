import { equal } from "node:assert/strict";
import { sizeSoftwareThreadPool } from "../../gpu/device.ts";

/** Runs `body` with LP_NUM_THREADS as given (undefined: unset), then puts the old value back. */
function withPoolEnv(value: string | undefined, body: () => void) {
  const old = Deno.env.get("LP_NUM_THREADS");
  try {
    if (value === undefined) Deno.env.delete("LP_NUM_THREADS");
    else Deno.env.set("LP_NUM_THREADS", value);
    body();
  } finally {
    if (old === undefined) Deno.env.delete("LP_NUM_THREADS");
    else Deno.env.set("LP_NUM_THREADS", old);
  }
}

Deno.test("software pool: twice the cores when unset, the user's value when set", () => {
  withPoolEnv(undefined, () => {
    sizeSoftwareThreadPool(3);
    equal(Deno.env.get("LP_NUM_THREADS"), "6");
  });
  withPoolEnv(undefined, () => {
    sizeSoftwareThreadPool(0);
    equal(Deno.env.get("LP_NUM_THREADS"), "2");
  });
  withPoolEnv("5", () => {
    sizeSoftwareThreadPool(3);
    equal(Deno.env.get("LP_NUM_THREADS"), "5");
  });
});
