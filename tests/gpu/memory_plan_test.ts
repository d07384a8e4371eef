// The memory plan sizes what a fleet allocates: the partial sums' scratch of
// the software family's fused kernels is among the buffers checkFleetFitsOn
// counts (the fleet checks, as it builds its step, that its producers fill
// exactly that scratch; tests/gpu/gpt_fleet_test.ts builds such fleets), and
// so are a bf16 training fleet's master weights.
import assert from "node:assert/strict";
import {
  fleetBuffers,
  fleetBytes,
  type FleetShape,
  partialsLayout,
  positionsOf,
} from "../../gpu/memory_plan.ts";

const sweep: FleetShape = {
  config: { vocabSize: 64, seqLen: 16, layers: 1, dModel: 16, heads: 2 },
  fleetSize: 5,
  batchSize: 128,
  training: true,
  kernels: "software",
};
const partials = (s: FleetShape) => fleetBuffers(s).find((b) => b.name === "partials")?.floats;

Deno.test("the memory plan counts the fused kernels' partial sums, and only where they run", () => {
  const { floats } = partialsLayout(sweep);
  // Five weight gradients of 16-ish by 64 outputs, a few slices each, and three layernorms.
  assert.ok(floats > 5 * 5 * 1024, `${floats} floats`);
  assert.equal(partials(sweep), floats);
  assert.equal(partials({ ...sweep, kernels: "hardware" }), undefined);
  assert.equal(partials({ ...sweep, fuse: false }), undefined);
  assert.equal(partials({ ...sweep, training: false }), undefined);
  // Per model, the same in any fleet (its slices follow one model alone).
  const perModel = (K: number) => partialsLayout({ ...sweep, fleetSize: K }).floats / K;
  assert.ok(Math.abs(perModel(1) - perModel(8)) / perModel(1) < 0.01);
});

Deno.test("training fleets plan the rows of the positions that predict a token, B · (S - 1)", () => {
  const buffer = (s: FleetShape, name: string) => fleetBuffers(s).find((b) => b.name === name)!;
  const { fleetSize: K, batchSize: B } = sweep, S = sweep.config.seqLen;
  for (const kernels of ["software", "hardware"] as const) {
    const train = { ...sweep, kernels }, evaluate = { ...train, training: false };
    assert.equal(positionsOf(train), S - 1);
    assert.equal(positionsOf(evaluate), S);
    for (const name of ["tokens", "targets", "losses"]) {
      assert.equal(buffer(train, name).floats, K * B * (S - 1), `${kernels} training ${name}`);
      assert.equal(buffer(evaluate, name).floats, K * B * S, `${kernels} evaluation ${name}`);
    }
    const C = sweep.config.dModel;
    assert.equal(buffer(train, "resid.0").floats, K * B * (S - 1) * C);
  }
});

Deno.test("a bf16 training fleet plans its f32 master weights; fp32, bf16-pure and evaluation none", () => {
  const has = (s: FleetShape) => fleetBuffers(s).some((b) => b.name === "master");
  const params = fleetBuffers(sweep).find((b) => b.name === "parameters")!.floats;
  const master = fleetBuffers({ ...sweep, precision: "bf16" }).find((b) => b.name === "master");
  assert.equal(master?.floats, params);
  assert.equal(
    fleetBytes({ ...sweep, precision: "bf16" }) - fleetBytes(sweep),
    4 * params,
    "one parameter-sized buffer more",
  );
  assert.ok(!has(sweep) && !has({ ...sweep, precision: "fp32" }));
  assert.ok(!has({ ...sweep, precision: "bf16-pure" }));
  assert.ok(!has({ ...sweep, precision: "bf16", training: false }));
});
