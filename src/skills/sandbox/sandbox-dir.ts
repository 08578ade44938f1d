/**
 * The sandbox dir (`CLAW_SANDBOX_DIR`, default `<data dir>/sandbox`): the
 * node-runner, the skill cache and the workspaces, which every sandbox mounts.
 * A node — often root — writes, chmods and chowns below it, so no other local
 * user may have a say in it: were it theirs (made first under a shared /tmp),
 * or theirs to change, they could plant links there and have the node write
 * through them (red-team finding F6). So the folder and every folder above it
 * must be the node's user's or root's, none writable by others (a parent with
 * the sticky bit, like /tmp, excepted: there others cannot rename what is
 * not theirs), and nothing in it is a link. Checked with `lstat` (links are
 * never followed) at start; a dir that fails is refused with why.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, lstat, mkdir, open, realpath, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

/** A sandbox dir the node will not use; `path` is the folder at fault. */
export class SandboxDirError extends Error {
  override readonly name = "SandboxDirError";
  readonly code = "unsafe_sandbox_dir";
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

/** The folders of a prepared sandbox dir. */
export interface SandboxDirs {
  /** the sandbox dir itself, as a path without links */
  base: string;
  /** `node-runner.mjs`, the harness of `node` skills */
  runnerDir: string;
  /** skills' files, one folder per version */
  cacheDir: string;
  /** workspaces */
  workDir: string;
}

const euid = () => process.geteuid?.() ?? 0;
const STICKY = 0o1000;
const mode = (m: number) => (m & 0o777).toString(8);

/** Why a folder above the sandbox dir lets another user change what is below it, or undefined. */
async function unsafeAncestor(p: string): Promise<string | undefined> {
  const st = await lstat(p);
  if (st.uid !== 0 && st.uid !== euid())
    return `${p} is owned by uid ${st.uid}, neither root nor this node's user (uid ${euid()}): its owner could swap what is below it`;
  if ((st.mode & 0o022) !== 0 && (st.mode & STICKY) === 0)
    return `${p} is writable by others (mode ${mode(st.mode)}) without the sticky bit: they could swap what is below it`;
  return undefined;
}

/** Throws unless `p` is a real folder (not a link) of this node's user that no one else may write to. */
async function checkOwn(p: string, name: string): Promise<void> {
  const st = await lstat(p);
  if (st.isSymbolicLink())
    throw new SandboxDirError(`${name} ${p} is a symbolic link: the node follows none (remove it, or choose another CLAW_SANDBOX_DIR)`, p);
  if (!st.isDirectory()) throw new SandboxDirError(`${name} ${p} is not a directory`, p);
  if (st.uid !== euid()) {
    throw new SandboxDirError(
      `${name} ${p} is owned by uid ${st.uid}, not by this node's user (uid ${euid()}): another user could plant links in it (remove it, or choose ` +
        `another CLAW_SANDBOX_DIR)`,
      p,
    );
  }
  if ((st.mode & 0o022) !== 0)
    throw new SandboxDirError(`${name} ${p} is writable by others (mode ${mode(st.mode)}): chmod go-w ${p}, or choose another CLAW_SANDBOX_DIR`, p);
}

/** Makes `p` (one level: its parent is checked) as a folder others may pass but not list, or leaves the one there for {@link checkOwn}. */
async function makeDir(p: string): Promise<boolean> {
  try {
    await mkdir(p, { mode: 0o711 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

/**
 * Makes the sandbox dir `dir` and its folders, or checks the ones there:
 * every folder above it root's or the node's user's and not writable by
 * others (sticky excepted), it and its folders the node's user's, writable by
 * no one else, and none of them a link. Throws {@link SandboxDirError}.
 */
export async function prepareSandboxDir(dir: string): Promise<SandboxDirs> {
  const wanted = resolve(dir);
  if (dirname(wanted) === wanted) throw new SandboxDirError("CLAW_SANDBOX_DIR cannot be /", wanted);
  // the deepest folder above it that exists, its links resolved (a root-owned /var/run → /run is fine): what is missing below is made
  let parent = dirname(wanted);
  const missing: string[] = [];
  while (
    !(await lstat(parent).then(
      () => true,
      () => false,
    ))
  ) {
    missing.unshift(basename(parent));
    parent = dirname(parent);
  }
  parent = await realpath(parent);
  for (let p = parent; ; p = dirname(p)) {
    const why = await unsafeAncestor(p);
    if (why) throw new SandboxDirError(`CLAW_SANDBOX_DIR ${wanted}: ${why}`, p);
    if (dirname(p) === p) break;
  }
  for (const name of missing) {
    parent = join(parent, name);
    await makeDir(parent);
    await checkOwn(parent, "the folder above CLAW_SANDBOX_DIR");
  }
  const base = join(parent, basename(wanted));
  await makeDir(base);
  await checkOwn(base, "CLAW_SANDBOX_DIR");
  const dirs: SandboxDirs = { base, runnerDir: join(base, "runner"), cacheDir: join(base, "skill-cache"), workDir: join(base, "workspaces") };
  for (const d of [dirs.runnerDir, dirs.cacheDir, dirs.workDir]) {
    await makeDir(d);
    await checkOwn(d, "the sandbox dir's folder");
    // others (the sandbox's uid 65534) pass through to what is mounted; nobody lists or writes
    await chmod(d, 0o711);
  }
  return dirs;
}

/**
 * Writes `bytes` to `path` (in a folder of the node's own) without following
 * a link at `path` or writing through one: a fresh file (O_EXCL, O_NOFOLLOW)
 * beside it, renamed over it (a rename replaces a link, never its target).
 */
export async function writeFileSafely(path: string, bytes: Uint8Array, fileMode = 0o644): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  let f: FileHandle | undefined;
  try {
    f = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, fileMode);
    await f.writeFile(bytes);
    await f.chmod(fileMode);
    await f.close();
    f = undefined;
    await rename(tmp, path);
  } catch (e) {
    await f?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}
