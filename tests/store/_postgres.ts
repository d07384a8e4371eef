// A throwaway PostgreSQL cluster for tests: Debian's initdb and pg_ctl in a fresh temporary
// folder, listening on a free port on 127.0.0.1 (and a unix socket inside that folder), with
// `trust` auth. It never touches a cluster the postgresql package may have started on 5432.
// As root (initdb refuses root) the binaries run as the `postgres` user, who then owns the folder.

import postgres from "postgres";

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** A fresh, empty database's URL (`t_<random>`). */
  newDatabase(): Promise<string>;
  /** `pg_ctl stop -m immediate`, then removes the folder. Safe to call twice. */
  stop(): Promise<void>;
  /** The same, synchronously (for an `unload` handler). */
  stopSync(): void;
  /** Stops the server, keeping its data (the database "goes away"). */
  pause(): Promise<void>;
  /** Starts it again on the same port, with the same data. */
  resume(): Promise<void>;
}

const PG_ROOT = "/usr/lib/postgresql";

/** The newest `/usr/lib/postgresql/<version>/bin` holding initdb and pg_ctl. */
function findBinDir(): string {
  let versions: string[] = [];
  try {
    versions = [...Deno.readDirSync(PG_ROOT)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    // fall through to the message below
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = `${PG_ROOT}/${v}/bin`;
    try {
      Deno.statSync(`${bin}/initdb`);
      Deno.statSync(`${bin}/pg_ctl`);
      return bin;
    } catch {
      // try the next version
    }
  }
  throw new Error(
    `PostgreSQL's server binaries (initdb, pg_ctl) are not in ${PG_ROOT}/<version>/bin: ` +
      "install Debian's `postgresql` package (apt-get install postgresql; " +
      "`sh .ci/ensure-webgpu`, run by `deno task test`, installs it)",
  );
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function idOf(flag: "-u" | "-g", user: string): number {
  const out = new Deno.Command("id", { args: [flag, user], stdout: "piped", stderr: "null" })
    .outputSync();
  if (!out.success) {
    throw new Error(`running as root but there is no \`${user}\` user to run initdb`);
  }
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** argv for `cmd args...`, as the postgres user when we are root. */
function asPg(asRoot: boolean, cmd: string, args: string[]): [string, string[]] {
  return asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
}

async function run(asRoot: boolean, cmd: string, args: string[]): Promise<void> {
  const [c, a] = asPg(asRoot, cmd, args);
  const out = await new Deno.Command(c, { args: a, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}):\n${text}`);
  }
}

/** Starts a cluster; call `stop()` (or `stopSync()`) when done. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = findBinDir();
  const asRoot = Deno.uid() === 0;
  const dir = await Deno.makeTempDir({ prefix: "memcap_pg_" });
  const data = `${dir}/data`, sock = `${dir}/sock`;
  let started = false;
  let stopped = false;
  const stopArgs = ["stop", "-D", data, "-m", "immediate", "-w"];
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    if (started) {
      const [c, a] = asPg(asRoot, `${bin}/pg_ctl`, stopArgs);
      new Deno.Command(c, { args: a, stdout: "null", stderr: "null" }).outputSync();
    }
    Deno.removeSync(dir, { recursive: true });
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      if (started) await run(asRoot, `${bin}/pg_ctl`, stopArgs);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
  try {
    await Deno.mkdir(sock);
    if (asRoot) {
      const uid = idOf("-u", "postgres"), gid = idOf("-g", "postgres");
      await Deno.chown(dir, uid, gid);
      await Deno.chown(sock, uid, gid);
    }
    await run(asRoot, `${bin}/initdb`, [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--no-locale",
      "--no-sync",
    ]);
    const port = freePort();
    const opts = [
      `-p ${port}`,
      "-c listen_addresses=127.0.0.1",
      `-c unix_socket_directories=${sock}`,
      // Throwaway data: skip fsync for speed.
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
    ].join(" ");
    const start = () =>
      run(asRoot, `${bin}/pg_ctl`, [
        "start",
        "-D",
        data,
        "-o",
        opts,
        "-l",
        `${dir}/log`,
        "-w",
        "-t",
        "60",
      ]);
    started = true;
    await start();
    const pause = async () => {
      await run(asRoot, `${bin}/pg_ctl`, ["stop", "-D", data, "-m", "fast", "-w"]);
      started = false;
    };
    const resume = async () => {
      started = true;
      await start();
    };
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const newDatabase = async () => {
      const name = `t_${crypto.randomUUID().replaceAll("-", "")}`;
      const admin = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    };
    return { url, newDatabase, stop, stopSync, pause, resume };
  } catch (e) {
    try {
      await stop();
    } catch {
      // report the first error
    }
    throw e;
  }
}
