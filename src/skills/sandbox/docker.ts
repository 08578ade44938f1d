/**
 * The docker driver, for `container` skills: one container per run, on any
 * engine that speaks the Docker API (Docker, or podman's `podman system
 * service`). No network, the image's root file system read-only, a fresh
 * `/tmp`, the workspace writable at `/work`, uid 65534, every capability
 * dropped and no privilege to gain, control-group limits for memory (no
 * swap) and processes, an rlimit for CPU time, the container killed at the
 * timeout, on too much output or when the run is cancelled — and always
 * removed afterwards.
 *
 * The contract of an image: its input is the JSON text in the environment
 * variable `CLAW_INPUT` (stdin is not used: podman's attach forwards the
 * client's own request into it), its output the JSON it prints on stdout.
 *
 * The workspace and the read-only mounts are bind mounts of the node's own
 * paths: the engine must run on the node's host.
 */
import type Docker from "dockerode";
import { stat } from "node:fs/promises";
import { Writable } from "node:stream";
import { SkillFailure } from "../skill.js";
import { SANDBOX_UID } from "./bubblewrap.js";
import { dockerEndpoint } from "./docker-endpoint.js";
import { guardRun, type SandboxCheck, type SandboxDriver, type SandboxResult, type SandboxSpec } from "./sandbox.js";

/** Options of {@link createDockerDriver}. */
export interface DockerDriverOptions {
  /** the engine's endpoint: `unix:///path.sock` or `tcp://host:port` (plain HTTP) */
  host: string;
}

/** The largest input `CLAW_INPUT` holds: the kernel refuses one environment string over 128 KiB (MAX_ARG_STRLEN) at exec. */
export const MAX_CONTAINER_INPUT_BYTES = 128 * 1024 - "CLAW_INPUT=".length - 1;

/** Labels every run's container: what it is, and when it is overdue (what a node that died mid-run leaves behind). */
const RUN_LABEL = "claw.run";
const DEADLINE_LABEL = "claw.deadline";
const OVERDUE_GRACE_MS = 60_000;

/**
 * dockerode 5's `ping`, which takes an abort signal; its types (4.x) say only
 * `ping()`, and a function of no arguments may be given one.
 */
const pingable = (docker: Docker): { ping(options: { abortSignal: AbortSignal }): Promise<unknown> } => docker;

/** A sink for one demultiplexed stream. */
const into = (text: { push(b: Buffer): void }) =>
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      text.push(chunk);
      done();
    },
  });

/**
 * The container of one run. The CPU-time rlimit's soft limit sends SIGXCPU
 * (exit 152), its hard one a second later SIGKILL; the image's command runs
 * under the engine's init (`Init`), since as PID 1 it would ignore SIGXCPU and
 * a CPU overrun would end like the OOM killer's SIGKILL. podman replaces its
 * default ulimits with the ones given instead of adding to them, and its
 * built-in ones can exceed what the engine may set: `nofile` and `nproc` are
 * given too (`nproc` counts every uid-65534 process of the host, so it is a
 * backstop; `PidsLimit` is the limit).
 */
function createOptions(spec: SandboxSpec, image: string): Docker.ContainerCreateOptions {
  const l = spec.limits;
  const memory = l.memoryMb * 1024 * 1024;
  return {
    Image: image,
    ...(spec.command.length > 0 ? { Cmd: spec.command } : {}),
    Env: Object.entries({ HOME: "/work", ...spec.env, CLAW_INPUT: spec.stdin }).map(([k, v]) => `${k}=${v}`),
    WorkingDir: "/work",
    User: `${SANDBOX_UID}:${SANDBOX_UID}`,
    AttachStdout: true,
    AttachStderr: true,
    Labels: { [RUN_LABEL]: "1", [DEADLINE_LABEL]: String(Date.now() + l.timeoutMs) },
    HostConfig: {
      Init: true,
      NetworkMode: "none",
      ReadonlyRootfs: true,
      Tmpfs: { "/tmp": "rw,size=64m,mode=1777" },
      Binds: [`${spec.workspace}:/work:rw`, ...spec.mounts.map((m) => `${m.host}:${m.at}:ro`)],
      Memory: memory,
      MemorySwap: memory,
      PidsLimit: l.processes,
      Ulimits: [
        { Name: "cpu", Soft: l.cpuSeconds, Hard: l.cpuSeconds + 1 },
        { Name: "nofile", Soft: 1024, Hard: 1024 },
        // what is left of the workspace's quota: no file grows past it
        { Name: "fsize", Soft: l.fileBytes, Hard: l.fileBytes },
        { Name: "nproc", Soft: 4096, Hard: 4096 },
      ],
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      // the skill's output is the node's to keep, not the engine's log files'
      LogConfig: { Type: "none", Config: {} },
      AutoRemove: false,
    },
  };
}

/**
 * Whether a run the driver did not stop ended in the OOM killer. The engine
 * says so where it can tell; some cannot (podman on cgroup v1 here loses
 * conmon's OOM marker), so a SIGKILL the driver did not send (exit 137) counts
 * too: inside its PID namespace nothing else kills it but the kernel — or the
 * skill itself, and the CPU limit's hard SIGKILL after a SIGXCPU it ignored.
 */
async function outOfMemory(container: Docker.Container, exitCode: number | null): Promise<boolean> {
  if (exitCode === 0 || exitCode === null) return false;
  return exitCode === 137 || (await container.inspect()).State.OOMKilled;
}

/** Creates the driver. */
export function createDockerDriver(o: DockerDriverOptions): SandboxDriver {
  const endpoint = dockerEndpoint(o.host);
  // dockerode (and what it pulls in: ssh2, tar-fs, …) is loaded only once an engine may be there to talk to
  let client: Promise<Docker> | undefined;
  const engineOf = (e: Docker.DockerOptions) => (client ??= import("dockerode").then(({ default: Docker }) => new Docker(e)));
  let checked: Promise<SandboxCheck> | undefined;

  /**
   * Removes the containers of runs well past their deadline: a node that died
   * mid-run could not (and the engine would let a looping skill run forever).
   * Other nodes may share the engine: their runs are younger than that.
   */
  async function sweep(engine: Docker): Promise<number> {
    const all = await engine.listContainers({ all: true, filters: { label: [RUN_LABEL] } });
    const overdue = all.filter((c) => Number(c.Labels[DEADLINE_LABEL]) + OVERDUE_GRACE_MS < Date.now());
    await Promise.all(
      overdue.map((c) =>
        engine
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
    return overdue.length;
  }

  /** Runs the created container to its end; the caller removes it. */
  async function runContainer(engine: Docker, container: Docker.Container, spec: SandboxSpec, started: number): Promise<SandboxResult> {
    let running = false;
    const kill = () => void container.kill({ signal: "SIGKILL" }).catch(() => undefined); // it may have ended already
    // the timeout counts from the run's start: creating and starting the container is part of it
    const guard = guardRun(spec, () => running && kill(), Math.max(0, spec.limits.timeoutMs - (performance.now() - started)));
    try {
      // attached before it starts, so that no output is missed
      const stream = await container.attach({ stream: true, stdout: true, stderr: true });
      const ended = new Promise<void>((resolve) => {
        stream.once("end", resolve);
        stream.once("close", resolve);
        stream.once("error", () => resolve());
      });
      engine.modem.demuxStream(stream, into(guard.out), into(guard.err));
      let exitCode: number | null = null;
      if (!guard.stopped()) {
        await container.start();
        running = true;
        // stopped while it was starting: the kill then could not reach it
        if (guard.stopped()) kill();
        exitCode = ((await container.wait()) as { StatusCode: number }).StatusCode;
        // the engine ends the attachment when the container stops; what is still in flight is read, but not waited for forever
        await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
      }
      const stopped = guard.stopped() ?? ((await outOfMemory(container, exitCode)) ? "memory" : undefined);
      return { exitCode, signal: null, stdout: guard.out.text(), stderr: guard.err.text(), stopped, durationMs: Math.round(performance.now() - started) };
    } finally {
      guard.dispose();
    }
  }

  return {
    name: "docker",
    check() {
      checked ??= (async (): Promise<SandboxCheck> => {
        if (!endpoint) return { ok: false, reason: `${o.host} is not a Docker API endpoint this node can use (unix:///path.sock or tcp://host:port)` };
        try {
          // no socket, no engine: said without loading the client
          if (endpoint.socketPath) await stat(endpoint.socketPath);
          const docker = await engineOf(endpoint);
          await pingable(docker).ping({ abortSignal: AbortSignal.timeout(5_000) });
          const v = await docker.version();
          const swept = await sweep(docker);
          return {
            ok: true,
            detail:
              `${v.Components?.[0]?.Name ?? "Docker Engine"} ${v.Version} (API ${v.ApiVersion}) at ` +
              `${o.host}${swept ? `; removed ${swept} overdue run container(s)` : ""}`,
          };
        } catch (e) {
          return { ok: false, reason: `no container engine answers at ${o.host}: ${(e as Error).message}` };
        }
      })();
      return checked;
    },
    async run(spec) {
      const started = performance.now();
      if (!endpoint) throw new Error(`${o.host} is not a Docker API endpoint`);
      const docker = await engineOf(endpoint);
      if (!spec.image) throw new Error("a container run needs an image");
      if (Buffer.byteLength(spec.stdin) > MAX_CONTAINER_INPUT_BYTES) {
        throw new SkillFailure(
          "invalid_input",
          `the input is ${Buffer.byteLength(spec.stdin)} bytes of JSON; a container skill's input (CLAW_INPUT) holds at most ${MAX_CONTAINER_INPUT_BYTES}`,
        );
      }
      let container: Docker.Container;
      try {
        container = await docker.createContainer(createOptions(spec, spec.image));
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404)
          throw new Error(`the image ${spec.image} is not on the container engine at ${o.host}: pull or load it there`, { cause: e });
        throw e;
      }
      try {
        return await runContainer(docker, container, spec, started);
      } finally {
        await container.remove({ force: true }).catch(() => undefined);
      }
    },
  };
}
