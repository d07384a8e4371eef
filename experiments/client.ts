// An experiment's HTTP client: capacity sweeps go through POST /v1/capacity
// like any user's, so a study measures exactly what the service reports.
// Each sweep has a label; the label → id map is kept in the study's state
// file, so a study that is run again (after an interruption, or to rewrite
// its report) finds its sweeps instead of training them again.
import type { Service } from "./service.ts";
import type { CapacityCreateInput, SweepResult } from "../lib/capacity/schemas.ts";
import type { RunResult } from "../lib/runs/schemas.ts";
import { isDeepStrictEqual } from "node:util";
import {
  type Api,
  type CapacitySweep,
  memcapClient,
  ServiceError,
  waitForRun,
  waitForSweep,
} from "../clients/ts/client.ts";

export { ServiceError };

interface SavedSweep {
  id: string;
  /** The request as sent, to notice a study whose settings changed since. */
  request: string;
}

/** What `deno task experiment` changes in every sweep a study submits. */
export interface SweepOverrides {
  maxFleetSize?: number;
  /** Seeds 0..seeds-1 per dataset size (the API's count form). */
  seeds?: number;
  /** The token budget of the sweeps that train until certified (the others have none). */
  tokenBudget?: number;
}

export class ExperimentClient {
  #saved: Record<string, SavedSweep> = {};
  /** The typed client (clients/ts/client.ts) the waits go through. */
  readonly api: Api;

  private constructor(
    readonly service: Service,
    readonly statePath: string,
    readonly log: (line: string) => void,
    /**
     * Overrides of every sweep: maxFleetSize (`--max-fleet-size`: 1 trains without fleets),
     * seeds (`--seeds N`: seeds 0..N-1 per dataset size), tokenBudget (`--token-budget N`, for
     * the sweeps with until: "certified").
     */
    readonly overrides: SweepOverrides = {},
  ) {
    this.api = memcapClient(service.url, service.token);
  }

  static async open(
    service: Service,
    statePath: string,
    log: (line: string) => void,
    overrides: SweepOverrides = {},
  ) {
    const c = new ExperimentClient(service, statePath, log, overrides);
    try {
      c.#saved = JSON.parse(await Deno.readTextFile(statePath));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return c;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.service.token) headers.authorization = `Bearer ${this.service.token}`;
    const res = await fetch(`${this.service.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the error
    }
    if (!res.ok) throw new ServiceError(res.status, json, `${method} ${path}`);
    return json as T;
  }

  /**
   * Creates a record in `collection` (datasets, models, runs, capacity) or
   * finds the one saved under `label` from the same request, as long as it
   * still exists and, for jobs, did not fail or get cancelled; returns its id.
   */
  async ensure(label: string, collection: string, req: unknown): Promise<string> {
    const body = JSON.stringify(req);
    const saved = this.#saved[label];
    if (saved && saved.request === body) {
      try {
        const r = await this.request<{ status?: string }>("GET", `/v1/${collection}/${saved.id}`);
        if (r.status !== "failed" && r.status !== "cancelled") return saved.id;
      } catch (e) {
        if (!(e instanceof ServiceError && e.status === 404)) throw e;
      }
    }
    const { id } = await this.request<{ id: string }>("POST", `/v1/${collection}`, req);
    this.#saved[label] = { id, request: body };
    await this.#persist();
    return id;
  }

  /** A study's sweep request as this client submits it (its overrides applied). */
  withOverrides<T extends CapacityCreateInput>(req: T): T {
    const { maxFleetSize, seeds, tokenBudget } = this.overrides;
    return {
      ...req,
      ...(maxFleetSize === undefined ? {} : { maxFleetSize }),
      ...(seeds === undefined ? {} : { seeds }),
      ...(tokenBudget === undefined || req.until !== "certified" ? {} : { tokenBudget }),
    };
  }

  /**
   * Submits a sweep (or finds it, see `ensure`) without waiting for it; returns its id. A
   * saved sweep with until "certified" whose request differs only in its token budget
   * (`--token-budget`) is kept, not retrained: extended (POST /v1/capacity/{id}/extend) when
   * its budget stopped it below the one asked, else reused as it is (see #keptForBudget).
   */
  async submitSweep(label: string, req: CapacityCreateInput): Promise<string> {
    const body = this.withOverrides(req);
    return await this.#keptForBudget(label, body) ?? await this.ensure(label, "capacity", body);
  }

  /**
   * The saved sweep of `label` when `req` asks it again with another token budget and it can
   * serve: still training (run the study again once it ends, to extend it); stopped by its
   * budget below the one asked (extended to it); or ended with a budget at least the one
   * asked, or stopped by something more budget would not change (reused). Null otherwise:
   * a new sweep then (one that failed, or one recorded before extension existed).
   */
  async #keptForBudget(label: string, req: CapacityCreateInput): Promise<string | null> {
    const saved = this.#saved[label];
    if (!saved || req.until !== "certified") return null;
    const { tokenBudget: _was, ...before } = JSON.parse(saved.request);
    const { tokenBudget: asked, ...now } = req;
    if (!isDeepStrictEqual(before, JSON.parse(JSON.stringify(now)))) return null;
    let sweep: CapacitySweep;
    try {
      sweep = await this.request<CapacitySweep>("GET", `/v1/capacity/${saved.id}`);
    } catch (e) {
      if (e instanceof ServiceError && e.status === 404) return null;
      throw e;
    }
    const b = sweep.result?.budget;
    const has = b?.tokenBudget ?? null;
    // The plain resume (the same request): kept without a word, as `ensure` would.
    const note = (line: string) => saved.request !== JSON.stringify(req) && this.log(line);
    const tokens = (n: number | null) => n === null ? "the default" : n.toExponential(2);
    if (sweep.status === "queued" || sweep.status === "running") {
      note(`${label}: ${saved.id} is still ${sweep.status}; kept (its own budget)`);
      return saved.id;
    }
    if (!b || !b.stoppedBy || has === null) return null;
    const more = asked !== undefined && asked > has;
    if (more && b.stoppedBy === "token-budget") {
      await this.request("POST", `/v1/capacity/${saved.id}/extend`, { tokenBudget: asked });
      this.log(
        `${label}: ${saved.id} stopped at ${tokens(has)} tokens; extended to ${tokens(asked!)}`,
      );
      this.#saved[label] = { id: saved.id, request: JSON.stringify(req) };
      await this.#persist();
      return saved.id;
    }
    if (sweep.status !== "succeeded") return null;
    note(
      more
        ? `${label}: ${saved.id} kept: stopped by ${b.stoppedBy}, which more budget would not change`
        : `${label}: ${saved.id} kept: its budget ${tokens(has)} covers ${tokens(asked ?? null)}`,
    );
    return saved.id;
  }

  /** Waits for a run, logging its progress now and then; throws unless it succeeds. */
  async waitRun(label: string, id: string): Promise<RunResult> {
    let lastLog = 0;
    const r = await waitForRun(this.api, id, (r) => {
      if (Date.now() - lastLog < 30_000 || r.status === "succeeded") return;
      lastLog = Date.now();
      this.log(`  ${label}: ${r.status}${r.progress ? `, step ${r.progress.step}` : ""}`);
    }, 500);
    if (r.status !== "succeeded") {
      throw new Error(`run ${label} (${id}) ${r.status}: ${JSON.stringify(r.error)}`);
    }
    return r.result!;
  }

  /** Waits for a sweep, logging its progress now and then; throws when it fails. */
  async waitSweep(label: string, id: string): Promise<SweepResult> {
    let lastLog = 0;
    const s = await waitForSweep(this.api, id, (s) => {
      if (Date.now() - lastLog < 30_000 || s.status === "succeeded") return;
      lastLog = Date.now();
      const p = s.progress;
      this.log(
        p
          ? `  ${label}: ${s.status}, ${p.phase}, models ${p.modelsDone}/${p.modelsTotal}, step ` +
            `${p.step}/${p.stepsPlanned}, ${p.activeModels} training, ` +
            `${Math.round(p.tokensPerSec)} tokens/s`
          : `  ${label}: ${s.status}`,
      );
    });
    if (s.status !== "succeeded" || !s.result) {
      throw new Error(`sweep ${label} (${id}) ${s.status}: ${JSON.stringify(s.error)}`);
    }
    return s.result as SweepResult;
  }

  async #persist() {
    const tmp = `${this.statePath}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(this.#saved, null, 2));
    await Deno.rename(tmp, this.statePath);
  }
}
