// The TypeScript client's types are generated from the service's own OpenAPI document
// (clients/ts/generate.ts): the committed file must be what the document generates today,
// so a route or schema change that forgets `deno task client:generate` fails here.
import assert from "node:assert/strict";
import { generateClientTypes, GENERATED } from "../../clients/ts/generate.ts";

Deno.test("clients/ts/openapi.gen.ts is up to date with the OpenAPI document", async () => {
  const committed = await Deno.readTextFile(GENERATED);
  const fresh = await generateClientTypes();
  assert.ok(
    committed === fresh,
    "clients/ts/openapi.gen.ts is stale: run `deno task client:generate` and commit it",
  );
  // Request fields with defaults are optional, as the service treats them.
  assert.match(fresh, /constants\?: "paper" \| "fitted";/);
});
