// The batch sampler: every epoch visits each sequence once, and its state
// (what a checkpoint keeps) continues the batch order exactly, as replaying
// the draws from the seed would.
import assert from "node:assert/strict";
import { BatchSampler } from "../../lib/training/batches.ts";
import { samplerAt } from "../../gpu/trainer.ts";
import { Rng } from "../../lib/prng.ts";

const draw = (s: BatchSampler, batches: number) =>
  Array.from({ length: batches }, () => Array.from(s.next()));

Deno.test("an epoch visits every sequence once, in a seeded order", () => {
  const a = new BatchSampler(10, 5, 7), b = new BatchSampler(10, 5, 7);
  const epoch = draw(a, 2).flat();
  assert.deepEqual([...epoch].sort((x, y) => x - y), [...Array(10).keys()]);
  assert.deepEqual(draw(b, 2).flat(), epoch, "same seed, same order");
  assert.notDeepEqual(draw(new BatchSampler(10, 5, 8), 2).flat(), epoch, "another seed");
});

Deno.test("a sampler restored from its state continues exactly (across epoch ends)", () => {
  // 7 sequences, batches of 3: batches cross epoch boundaries, each a fresh shuffle.
  const original = new BatchSampler(7, 3, 11);
  draw(original, 5);
  const restored = BatchSampler.fromState(7, 3, original.state());
  const replayed = samplerAt(7, 3, 11, 5);
  const next = draw(original, 9);
  assert.deepEqual(draw(restored, 9), next);
  assert.deepEqual(draw(replayed, 9), next);
  assert.throws(() => BatchSampler.fromState(8, 3, original.state()), /not for 8 sequences/);
});

Deno.test("Rng.fromWords continues the generator", () => {
  const r = new Rng(3);
  r.nextU32();
  const copy = Rng.fromWords(r.words());
  assert.deepEqual(
    Array.from({ length: 5 }, () => copy.nextU32()),
    Array.from({ length: 5 }, () => r.nextU32()),
  );
  r.normal(); // leaves a spare normal behind: the words alone would lose it
  assert.throws(() => r.words(), /spare normal/);
});
