/**
 * The one interface every sandbox driver implements: run a command (or an
 * image) with a workspace, read-only mounts, an environment, no network
 * unless granted, and limits — and say how it ended, including when the
 * sandbox itself stopped it.
 */

/** Limits of one run. */
export interface SandboxLimits {
  timeoutMs: number;
  memoryMb: number;
  cpuSeconds: number;
  processes: number;
  /** bytes kept of stdout and of stderr each; more stops the run */
  outputBytes: number;
  /** no file the run writes may grow past this many bytes (what is left of its workspace's quota; rlimit-enforced where the driver has rlimits) */
  fileBytes: number;
}

/** What to run. */
export interface SandboxSpec {
  /** argv inside the sandbox (for a container: its command, if any) */
  command: string[];
  /** the image, for container drivers */
  image?: string;
  /** written to stdin, then stdin is closed */
  stdin: string;
  /** the whole environment inside (nothing else leaks in) */
  env: Record<string, string>;
  /** host directory mounted writable at `/work` (the working directory) */
  workspace: string;
  /** host paths mounted read-only at `at` */
  mounts: Array<{ host: string; at: string }>;
  network: "none";
  limits: SandboxLimits;
  /** aborts the run (the caller's turn was interrupted) */
  signal?: AbortSignal;
}

/** How a run ended. */
export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** the sandbox stopped it: past its time, its memory, its output, or cancelled */
  stopped?: "timeout" | "memory" | "output" | "cancelled";
  durationMs: number;
}

/** Whether a driver can run here; `warning`: it can, and the node's owner must know what that means. */
export type SandboxCheck = { ok: true; detail?: string; warning?: string } | { ok: false; reason: string };

/** A sandbox driver. */
export interface SandboxDriver {
  readonly name: "bubblewrap" | "docker" | "process";
  /** can it run here? (cached after the first answer) */
  check(): Promise<SandboxCheck>;
  run(spec: SandboxSpec): Promise<SandboxResult>;
}

/** Why a node has no driver for a runtime. */
export type Unavailable = { unavailable: string };

/** A node's drivers by the runtime they run — or why it has none for a runtime (runtime-sandboxes.ts makes it). */
export type NodeDrivers = ReadonlyMap<string, SandboxDriver | Unavailable>;

/** The driver of a skill's runtime; undefined for `builtin` (run in process, by every node). */
export function driverFor(drivers: NodeDrivers, runtime: string): SandboxDriver | Unavailable | undefined {
  return drivers.get(runtime);
}

/** Collects a stream up to `max` bytes; `over` is called once when more arrives. */
function boundedText(max: number, over: () => void): { push(b: Buffer): void; text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  let exceeded = false;
  return {
    push(b) {
      if (exceeded) return;
      if (size + b.length > max) {
        chunks.push(b.subarray(0, max - size));
        size = max;
        exceeded = true;
        over();
        return;
      }
      chunks.push(b);
      size += b.length;
    },
    text: () => Buffer.concat(chunks).toString("utf8"),
  };
}

/** What {@link guardRun} keeps of a run: its output, and why it was stopped (if it was). */
export interface RunGuard {
  out: { push(b: Buffer): void; text(): string };
  err: { push(b: Buffer): void; text(): string };
  stopped(): SandboxResult["stopped"];
  /** stops the run for `why` (the first reason stays) */
  stop(why: NonNullable<SandboxResult["stopped"]>): void;
  /** the run ended: no timer, no listener left */
  dispose(): void;
}

/**
 * The limits every driver enforces alike: stdout and stderr bounded (more
 * stops the run), the timeout (`timeoutMs`, default the spec's), and
 * cancellation through the spec's signal. `kill` ends the run, each time
 * one of them trips.
 */
export function guardRun(spec: Pick<SandboxSpec, "limits" | "signal">, kill: () => void, timeoutMs = spec.limits.timeoutMs): RunGuard {
  let stopped: SandboxResult["stopped"];
  const stop = (why: NonNullable<SandboxResult["stopped"]>) => {
    stopped ??= why;
    kill();
  };
  const out = boundedText(spec.limits.outputBytes, () => stop("output"));
  const err = boundedText(spec.limits.outputBytes, () => stop("output"));
  const timer = setTimeout(() => stop("timeout"), timeoutMs);
  const onAbort = () => stop("cancelled");
  spec.signal?.addEventListener("abort", onAbort, { once: true });
  if (spec.signal?.aborted) onAbort();
  return {
    out,
    err,
    stopped: () => stopped,
    stop,
    dispose() {
      clearTimeout(timer);
      spec.signal?.removeEventListener("abort", onAbort);
    },
  };
}
