// The memcap command line: a client of the HTTP API (clients/ts/client.ts) for the questions
// people ask most, with a progress bar on long jobs.
//   deno task memcap capacity --layers 1 --d-model 16 --heads 2 --vocab-size 64 --seq-len 16 --wait
import { parseArgs } from "node:util";
import {
  type Api,
  type CapacitySweep,
  getSweep,
  memcapClient,
  type paths,
  type Run,
  ServiceError,
  unwrap,
  waitForRun,
  waitForSweep,
} from "../clients/ts/client.ts";

const USAGE = `memcap: measure what language models memorize, from the command line.

Usage: deno task memcap [--url URL] <command> [options]

Commands:
  health                          the service's status, version and GPU adapter
  capacity --layers L --d-model D --heads H --vocab-size V --seq-len S [options]
                                  start a capacity sweep; with --wait, follow it and print
                                  bits per parameter with its verdict, and save the figure
      --precision fp32|bf16|bf16-pure   (fp32)
      --sizes N,N,...             dataset sizes (default: an automatic grid around the knee)
      --seeds N                   seeds per size (1)
      --max-steps N               training steps per model (the service's default)
      --batch-size N              sequences per step (the service's default)
      --until budget|certified    train on until the verdict is certified (budget)
      --token-budget N            with --until certified: training tokens the sweep may
                                  spend (the service's default: 4× the first pass)
      --wait                      follow the sweep to its end
      --svg FILE                  where to save the figure (capacity-<id>.svg)
  sweep <id> [--wait] [--svg FILE]   a sweep's state, or follow it to its end
  extend <id> --token-budget N [--wait] [--svg FILE]
                                  continue a sweep its token budget stopped, with a larger
                                  budget (its states are kept; nothing is retrained)
  runs [<id>] [--wait]            list training runs, or one run (followed with --wait)
  predict --parameters P --dataset-sequences N --seq-len S --vocab-size V [--precision fp32|bf16]
                                  expected memorization and membership F1 from sizes alone

Options:
  --url URL     the service (MEMCAP_URL, else http://127.0.0.1:8787); a token is read from
                MEMCAP_TOKEN
  --json        print the service's JSON instead of the summary
  -h, --help    this text
`;

const OPTIONS = {
  url: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  wait: { type: "boolean" },
  svg: { type: "string" },
  layers: { type: "string" },
  "d-model": { type: "string" },
  heads: { type: "string" },
  "vocab-size": { type: "string" },
  "seq-len": { type: "string" },
  precision: { type: "string" },
  sizes: { type: "string" },
  seeds: { type: "string" },
  "max-steps": { type: "string" },
  "batch-size": { type: "string" },
  until: { type: "string" },
  "token-budget": { type: "string" },
  parameters: { type: "string" },
  "dataset-sequences": { type: "string" },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];

/** A usage error: printed with a pointer to --help, exit code 2. */
class UsageError extends Error {}

function int(flags: Flags, name: keyof Flags, required = false): number | undefined {
  const v = flags[name];
  if (v === undefined) {
    if (required) throw new UsageError(`--${name} is required`);
    return undefined;
  }
  const n = Number(v);
  if (typeof v !== "string" || !Number.isInteger(n)) {
    throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(v)}`);
  }
  return n;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** One line of progress: a bar on a terminal, a plain line every 10 s otherwise. */
class ProgressLine {
  #last = 0;
  #lastText = "";
  readonly #tty = Deno.stderr.isTerminal();

  show(fraction: number, text: string) {
    const width = 24, filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}`;
    if (this.#tty) {
      Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${bar}`));
    } else if (Date.now() - this.#last >= 10_000 || text.split(" ")[0] !== this.#lastText) {
      this.#last = Date.now();
      this.#lastText = text.split(" ")[0];
      console.error(bar);
    }
  }

  end() {
    if (this.#tty) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  }
}

function sweepProgress(line: ProgressLine, s: CapacitySweep) {
  const p = s.progress;
  if (!p) return line.show(0, s.status);
  const fraction = p.modelsTotal > 0 ? p.modelsDone / p.modelsTotal : 0;
  const eta = p.etaSeconds === null ? "" : `, eta ${duration(p.etaSeconds)}`;
  const speed = p.tokensPerSec > 0 ? `, ${fmt(p.tokensPerSec)} tokens/s` : "";
  line.show(
    fraction,
    `${p.phase} models ${p.modelsDone}/${p.modelsTotal}, step ${p.step}/${p.stepsPlanned}` +
      `${speed}${eta}`,
  );
}

/** The answer in words: capacity, bits per parameter and whether it is certified. */
function sweepSummary(s: CapacitySweep): string {
  if (s.status !== "succeeded") {
    return `${s.id} ${s.status}${s.error ? `: ${s.error.code}: ${s.error.message}` : ""}`;
  }
  const certified = s.verdict === "certified";
  const lines = [
    `${s.id} succeeded`,
    `capacity ${certified ? "" : "≥ "}${fmt(s.capacityBits!)} bits, ` +
    `${certified ? "" : "≥ "}${s.bitsPerParameter!.toFixed(2)} bits per parameter ` +
    `(${fmt(s.parameterCount)} parameters): ${s.verdict}`,
    ...(s.reasons ?? []).map((r) => `  - ${r.message}`),
  ];
  const budget = s.result?.budget;
  if (budget?.stoppedBy === "token-budget" && budget.tokenBudget !== null) {
    const least = budget.tokensToGoOn ?? budget.tokenBudget + 1;
    lines.push(
      `stopped at its token budget (${fmt(budget.tokensSpent)} of ${fmt(budget.tokenBudget)} ` +
        `tokens spent; its next training needs a budget of ${fmt(least)}); go on with: ` +
        `deno task memcap extend ${s.id} --token-budget ` +
        `${Math.max(least, 2 * budget.tokenBudget)} --wait`,
    );
  }
  return lines.join("\n");
}

/** The figure is SVG, not JSON: fetched beside the typed client. */
async function saveFigure(url: string, token: string | undefined, id: string, file: string) {
  const res = await fetch(`${url.replace(/\/$/, "")}/v1/capacity/${id}/plot.svg`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  if (!res.ok) {
    throw new ServiceError(res.status, await res.json(), `GET /v1/capacity/${id}/plot.svg`);
  }
  await Deno.writeTextFile(file, await res.text());
}

async function followSweep(
  api: Api,
  ctx: { url: string; token?: string; flags: Flags },
  id: string,
): Promise<number> {
  const line = new ProgressLine();
  const s = await waitForSweep(api, id, (state) => sweepProgress(line, state));
  line.end();
  if (ctx.flags.json) console.log(JSON.stringify(s, null, 2));
  else console.log(sweepSummary(s));
  if (s.status !== "succeeded") return 1;
  const file = ctx.flags.svg ?? `capacity-${id}.svg`;
  await saveFigure(ctx.url, ctx.token, id, file);
  if (!ctx.flags.json) console.log(`figure: ${file}`);
  return 0;
}

function runSummary(r: Run): string {
  const bits = r.memorizedBits === null ? "" : `, ${fmt(r.memorizedBits)} bits memorized`;
  return `${r.id} ${r.status}, step ${r.step}${
    r.loss === null ? "" : `, loss ${r.loss.toFixed(3)}`
  }${bits}`;
}

async function main(args: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({
    args,
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const [command, ...rest] = positionals;
  if (flags.help || !command) {
    console.log(USAGE);
    return flags.help ? 0 : 2;
  }
  const url = flags.url ?? Deno.env.get("MEMCAP_URL") ?? "http://127.0.0.1:8787";
  const token = Deno.env.get("MEMCAP_TOKEN") || undefined;
  const api = memcapClient(url, token);
  const print = (summary: string, data: unknown) =>
    console.log(flags.json ? JSON.stringify(data, null, 2) : summary);

  switch (command) {
    case "health": {
      const h = await unwrap("GET /v1/health", api.GET("/v1/health"));
      print(
        `${h.status}: memcap ${h.version}, GPU ${h.gpu ? h.gpu.description : "none"}, ` +
          `${h.queue.depth} job${h.queue.depth === 1 ? "" : "s"} queued or running`,
        h,
      );
      return 0;
    }
    case "capacity": {
      const precision = flags.precision ?? "fp32";
      if (!["fp32", "bf16", "bf16-pure"].includes(precision)) {
        throw new UsageError(`--precision must be fp32, bf16 or bf16-pure, got ${precision}`);
      }
      const until = flags.until ?? "budget";
      if (until !== "budget" && until !== "certified") {
        throw new UsageError(`--until must be budget or certified, got ${until}`);
      }
      const sizes = flags.sizes?.split(",").map((x) => {
        const n = Number(x);
        if (!Number.isInteger(n)) {
          throw new UsageError(`--sizes: ${JSON.stringify(x)} is not an integer`);
        }
        return n;
      });
      type CapacityBody =
        paths["/v1/capacity"]["post"]["requestBody"]["content"]["application/json"];
      const training: NonNullable<CapacityBody["training"]> = {};
      const maxSteps = int(flags, "max-steps"), batchSize = int(flags, "batch-size");
      if (maxSteps !== undefined) training.maxSteps = maxSteps;
      if (batchSize !== undefined) training.batchSize = batchSize;
      if (until === "certified") training.schedule = { kind: "cosine-restarts" };
      const tokenBudget = int(flags, "token-budget");
      if (tokenBudget !== undefined && until !== "certified") {
        throw new UsageError("--token-budget needs --until certified");
      }
      const seeds = int(flags, "seeds");
      const body: CapacityBody = {
        config: {
          vocabSize: int(flags, "vocab-size", true)!,
          seqLen: int(flags, "seq-len", true)!,
          layers: int(flags, "layers", true)!,
          dModel: int(flags, "d-model", true)!,
          heads: int(flags, "heads", true)!,
        },
        precision: precision as CapacityBody["precision"],
        until,
        ...(tokenBudget !== undefined ? { tokenBudget } : {}),
        ...(sizes ? { datasetSizes: sizes } : {}),
        ...(seeds !== undefined ? { seeds } : {}),
        ...(Object.keys(training).length > 0 ? { training } : {}),
      };
      const created = await unwrap(
        "POST /v1/capacity",
        api.POST("/v1/capacity", { body }),
      );
      console.error(`${created.id} ${created.status}`);
      if (!flags.wait) {
        print(`follow it with: deno task memcap sweep ${created.id} --wait`, created);
        return 0;
      }
      return await followSweep(api, { url, token, flags }, created.id);
    }
    case "sweep": {
      const id = rest[0];
      if (!id) throw new UsageError("sweep: give the sweep's id");
      if (flags.wait) return await followSweep(api, { url, token, flags }, id);
      const s = await getSweep(api, id);
      print(s.status === "succeeded" ? sweepSummary(s) : `${s.id} ${s.status}`, s);
      return 0;
    }
    case "extend": {
      const id = rest[0];
      if (!id) throw new UsageError("extend: give the sweep's id");
      const tokenBudget = int(flags, "token-budget", true)!;
      const queued = await unwrap(
        `POST /v1/capacity/${id}/extend`,
        api.POST("/v1/capacity/{id}/extend", {
          params: { path: { id } },
          body: { tokenBudget },
        }),
      );
      console.error(`${queued.id} ${queued.status}`);
      if (!flags.wait) {
        print(`follow it with: deno task memcap sweep ${queued.id} --wait`, queued);
        return 0;
      }
      return await followSweep(api, { url, token, flags }, queued.id);
    }
    case "runs": {
      const id = rest[0];
      if (!id) {
        const page = await unwrap("GET /v1/runs", api.GET("/v1/runs", {}));
        print(page.items.map(runSummary).join("\n") || "no runs", page);
        return 0;
      }
      if (!flags.wait) {
        const r = await unwrap(
          `GET /v1/runs/${id}`,
          api.GET("/v1/runs/{id}", { params: { path: { id } } }),
        );
        print(runSummary(r), r);
        return 0;
      }
      const line = new ProgressLine();
      const r = await waitForRun(api, id, (state) => {
        const p = state.progress;
        if (!p) return line.show(0, state.status);
        const eta = p.etaSeconds === null ? "" : `, eta ${duration(p.etaSeconds)}`;
        line.show(p.step / p.totalSteps, `${p.phase} step ${p.step}/${p.totalSteps}${eta}`);
      });
      line.end();
      print(runSummary(r), r);
      return r.status === "succeeded" ? 0 : 1;
    }
    case "predict": {
      const precision = flags.precision ?? "fp32";
      if (precision !== "fp32" && precision !== "bf16") {
        throw new UsageError(`--precision must be fp32 or bf16, got ${precision}`);
      }
      const p = await unwrap(
        "POST /v1/predict",
        api.POST("/v1/predict", {
          body: {
            parameters: int(flags, "parameters", true)!,
            datasetSequences: int(flags, "dataset-sequences", true)!,
            seqLen: int(flags, "seq-len", true)!,
            vocabSize: int(flags, "vocab-size", true)!,
            precision,
          },
        }),
      );
      print(JSON.stringify(p, null, 2), p);
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    const parseError = e instanceof TypeError && String((e as { code?: string }).code)
      .startsWith("ERR_PARSE_ARGS");
    if (e instanceof UsageError || parseError) {
      console.error(`memcap: ${(e as Error).message}\n(deno task memcap --help)`);
      Deno.exit(2);
    }
    if (e instanceof ServiceError) {
      console.error(`memcap: ${e.message}`);
      Deno.exit(1);
    }
    if (e instanceof TypeError) {
      // fetch's own failures: nothing listens there, or the address is refused.
      console.error(`memcap: cannot reach the service: ${e.message} (is it started? --url?)`);
      Deno.exit(1);
    }
    throw e;
  }
}
