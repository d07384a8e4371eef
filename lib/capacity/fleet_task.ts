// One fleet of a capacity sweep as a task of its own: what the sweep's
// coordinator (lib/capacity/sweep_coordinator.ts) hands to whoever trains it
// (gpu/jobs/capacity_fleet.ts), in this process or on another node, and what
// comes back. The fleet's artifacts live on the sweep's record, under names
// that carry the fleet's key, so fleets of one group can train at once.
import type { CapacityCreateRequest, SweepProgress, SweepRun } from "./schemas.ts";
import type { CurvePoint } from "../training/saturation.ts";

export interface RunKey {
  datasetSize: number;
  seed: number;
}

/** A finished run as the sweep keeps it: its report plus its whole curve (the report is thinned). */
export interface Outcome extends SweepRun {
  fullCurve: CurvePoint[];
  /** Step of the kept state this run went on from, superseded by this outcome. */
  replacedState?: number;
}

/** A group of runs trained side by side from one step to one target. */
export interface Group {
  /** "base", "size-N" or "more-T": names the group's artifacts, so a resume matches them. */
  key: string;
  /** Step every run starts from (0, or where an earlier group left them). */
  fromStep: number;
  /** Last step of this group. */
  untilStep: number;
}

export interface FleetTask {
  /** The sweep's id (its record holds the fleet's artifacts). */
  sweepId: string;
  request: CapacityCreateRequest;
  group: Group;
  /** Index of this fleet among its group's, and how many the group has. */
  fleet: number;
  fleets: number;
  /** The runs this fleet trains (its group's fleet less the runs already finished). */
  runs: RunKey[];
}

/** A fleet's own progress; the coordinator turns it into the sweep's (SweepProgress). */
export interface FleetProgress {
  phase: SweepProgress["phase"];
  step: number;
  stepsPlanned: number;
  /** Models of this fleet still training, and those that left it. */
  activeModels: number;
  modelsDone: number;
  tokensPerSec: number;
  /** Training tokens this attempt of the fleet processed. */
  tokensTrained: number;
}

export interface FleetResult {
  /** Training wall seconds and tokens of this attempt (throughput). */
  trainSeconds: number;
  tokensTrained: number;
  /** The step this attempt continued from, when it resumed from the fleet's checkpoint. */
  resumedFromStep: number | null;
}

/** A key unique in the sweep: the group and the fleet's index in it. */
export function fleetKey(group: Group, fleet: number): string {
  return `${group.key}-${fleet}`;
}

/** The fleet's periodic checkpoint of the models it trains (FleetCheckpoint). */
export function fleetCheckpointArtifact(key: string): string {
  return `fleet-${key}.safetensors`;
}

/** The outcomes of the fleet's runs that finished, written as each one leaves. */
export function fleetOutcomesArtifact(key: string): string {
  return `outcomes-${key}.json`;
}

/** The state an unsaturated run keeps at `step` for until "certified" to go on from. */
export function runStateArtifact(r: RunKey, step: number): string {
  return `run-${r.datasetSize}-${r.seed}-${step}.safetensors`;
}

/** A kept state's name before states were named by step (a sweep begun by an older version). */
export function legacyRunStateArtifact(r: RunKey): string {
  return `run-${r.datasetSize}-${r.seed}.safetensors`;
}

/** The outcomes fleet `key` wrote so far (its finished runs), from its artifact. */
export async function fleetOutcomes(
  artifacts: { getArtifact(name: string): Promise<Uint8Array | null> },
  key: string,
): Promise<Outcome[]> {
  const bytes = await artifacts.getArtifact(fleetOutcomesArtifact(key));
  return bytes ? decodeJson<Outcome[]>(bytes) : [];
}

export function sameRun(a: RunKey, b: RunKey): boolean {
  return a.datasetSize === b.datasetSize && a.seed === b.seed;
}

export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(bytes)) as T;
}
