// The private folder of the service's Unix socket (main.ts): inside MEMCAP_DATA, so that a
// process killed without its cleanup (SIGKILL, a crash) leaves its folder where the next
// start finds and removes it, rather than in /tmp for good. A socket path has a length
// limit (108 bytes on Linux); a data folder too deep for it falls back to /tmp.

/** Longest socket path the folder must leave room for: `<dir>/http-<generation>.sock`. */
const MAX_SOCKET_PATH = 100;
const PREFIX = ".http-";

/** Makes this process's socket folder, first removing those of processes no longer alive. */
export async function makeSocketDir(dataDir: string): Promise<string> {
  const root = await Deno.realPath(dataDir);
  await removeDeadSocketDirs(root);
  const dir = `${root}/${PREFIX}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  if (`${dir}/http-9999.sock`.length > MAX_SOCKET_PATH) {
    return await Deno.makeTempDir({ prefix: "memcap-http-" });
  }
  await Deno.mkdir(dir, { mode: 0o700 });
  return dir;
}

/** `.http-<pid>-*` folders whose process is gone (known where /proc is; elsewhere none). */
async function removeDeadSocketDirs(root: string): Promise<void> {
  if (!(await exists("/proc/self"))) return;
  for await (const entry of Deno.readDir(root)) {
    const pid = entry.isDirectory && entry.name.startsWith(PREFIX)
      ? Number(entry.name.slice(PREFIX.length).split("-")[0])
      : NaN;
    if (!Number.isInteger(pid) || pid === Deno.pid || await exists(`/proc/${pid}`)) continue;
    await Deno.remove(`${root}/${entry.name}`, { recursive: true }).catch(() => {});
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
