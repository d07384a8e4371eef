// Run as its own process by engine_orphan_test.ts: a parent of an engine process whose main
// thread is stuck for good (MEMCAP_TEST_FAULTS' "hang"), so that only the engine's parent
// watch (gpu/parent_watch.ts) can notice this process being killed. Prints "hung", then waits.
import { EngineProcess } from "../../gpu/engine_process.ts";

const engine = new EngineProcess({
  env: { MEMCAP_TEST_FAULTS: "1" },
  watchdogMs: 0,
  log: () => {},
});
await engine.injectHang();
await new Promise((r) => setTimeout(r, 200)); // the hang starts 10 ms after its answer
console.log("hung");
setInterval(() => {}, 60_000);
