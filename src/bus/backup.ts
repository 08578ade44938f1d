/**
 * Backing up and restoring what Claw keeps in JetStream: its streams
 * (`CLAW_*`), its KV buckets (`KV_claw_*`) and its object store
 * (`OBJ_claw_*`), each as its configuration and its messages — subject,
 * headers and bytes — in a folder:
 *
 *   <dir>/manifest.json                  when, from which server, what
 *   <dir>/<stream>/config.json           the stream's configuration
 *   <dir>/<stream>/messages.jsonl        one message per line, oldest first
 *
 * A backup reads each stream up to the last message it held when its turn
 * came (nodes may keep running: what comes later is in the next backup), by
 * sequence, so work queues with consumers are read without consuming them.
 * Buckets that only hold the live cluster's state (members, the leases, rate
 * limits) are left out: they mean nothing after a restore.
 *
 * A restore makes each stream with its configuration and publishes the
 * messages again in order, headers and all (a KV delete stays a delete, an
 * object's chunks stay its chunks); sequences and times are new. Consumers
 * are not kept: nodes make theirs when they start, and work queues deliver
 * what they hold.
 */
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, writeFile, appendFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { isTransientNatsError, withRetry, type RetryOptions } from "./retry.js";
import { BUCKETS } from "./specs.js";

/** Streams that hold the live cluster's state, not data. */
const SKIPPED = new Set([`KV_${BUCKETS.members}`, `KV_${BUCKETS.lease}`, `KV_${BUCKETS.rateLimits}`]);

/** True for a stream a backup takes. */
export function backedUp(name: string): boolean {
  return (name.startsWith("CLAW_") || name.startsWith("KV_claw_") || name.startsWith("OBJ_claw_")) && !SKIPPED.has(name);
}

/** One stored message, as a line of `messages.jsonl`. */
interface Line {
  seq: number;
  subject: string;
  time: string;
  headers?: Record<string, string[]>;
  data: string;
}

/** What a backup or restore reports as it goes. */
export type Progress = (stream: string, done: number, total: number) => void;

/** Backs up every stream of Claw's to `dir`; resolves with what it wrote. */
export async function backup(
  jsm: JetStreamManager,
  dir: string,
  o: { server?: string; progress?: Progress } = {},
): Promise<{ streams: Record<string, number> }> {
  await mkdir(dir, { recursive: true });
  const names: string[] = [];
  for await (const name of jsm.streams.names()) if (backedUp(name)) names.push(name);
  names.sort();
  const streams: Record<string, number> = {};
  for (const name of names) {
    const info = await jsm.streams.info(name);
    const folder = join(dir, name);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, "config.json"), JSON.stringify(info.config, null, 2));
    const out = join(folder, "messages.jsonl");
    await writeFile(out, "");
    const { first_seq: first, last_seq: last, messages } = info.state;
    let written = 0;
    let buffer: string[] = [];
    for (let seq = first; messages > 0 && seq <= last; seq++) {
      const m = await jsm.streams.getMessage(name, { seq }).catch(() => null);
      if (!m) continue; // deleted, or consumed from a work queue meanwhile
      const h: Record<string, string[]> = {};
      for (const k of m.header?.keys() ?? []) h[k] = m.header.values(k);
      const line: Line = {
        seq: m.seq,
        subject: m.subject,
        time: m.time.toISOString(),
        ...(Object.keys(h).length ? { headers: h } : {}),
        data: Buffer.from(m.data).toString("base64"),
      };
      buffer.push(JSON.stringify(line));
      written++;
      if (buffer.length >= 500) {
        await appendFile(out, buffer.join("\n") + "\n");
        buffer = [];
        o.progress?.(name, seq - first + 1, last - first + 1);
      }
    }
    if (buffer.length) await appendFile(out, buffer.join("\n") + "\n");
    o.progress?.(name, Math.max(0, last - first + 1), Math.max(0, last - first + 1));
    streams[name] = written;
  }
  await writeFile(join(dir, "manifest.json"), JSON.stringify({ format: 1, created: new Date().toISOString(), server: o.server, streams }, null, 2));
  return { streams };
}

/** A publish of a restore, in flight, and how to make it again. */
interface Publishing {
  publish: () => Promise<unknown>;
  sent: Promise<unknown>;
}

/**
 * Waits for every publish in flight. When one failed and `retry` takes the
 * failure (JetStream electing a leader), the whole batch is published again,
 * one at a time and in order, each retried: the ids of the messages make
 * those already stored count once. Otherwise the first failure is thrown.
 */
async function settleOrRepeat(batch: Publishing[], retry: RetryOptions | undefined): Promise<void> {
  const failed = (await Promise.allSettled(batch.map((p) => p.sent))).find((r) => r.status === "rejected");
  if (!failed) return;
  const e = (failed as PromiseRejectedResult).reason;
  if (!retry || !(retry.transient ?? isTransientNatsError)(e)) throw e;
  retry.onRetry?.(e, 0, 0);
  for (const p of batch) await withRetry(p.publish, retry);
}

/** A restore that would mix with what is there already. */
export class RestoreConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RestoreConflictError";
  }
}

/**
 * Restores a backup: each stream made with its configuration (an existing
 * one must be empty, unless `force`), its messages published again in order.
 */
export async function restore(
  jsm: JetStreamManager,
  js: JetStreamClient,
  dir: string,
  o: { force?: boolean; progress?: Progress; /** how JetStream calls are retried (a cluster forming or electing) */ retry?: RetryOptions } = {},
): Promise<{ streams: Record<string, number> }> {
  const manifest = JSON.parse(
    await readFile(join(dir, "manifest.json"), "utf8").catch(() => {
      throw new Error(`${dir} is not a Claw backup (no manifest.json)`);
    }),
  ) as { format: number; streams: Record<string, number> };
  if (manifest.format !== 1) throw new Error(`backup format ${manifest.format} is not one this version reads (1)`);
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((d) => d.isDirectory() && backedUp(d.name))
    .map((d) => d.name)
    .sort();
  // every stream first, and checked, before anything is written
  for (const name of names) {
    const config = JSON.parse(await readFile(join(dir, name, "config.json"), "utf8")) as StreamConfig;
    const existing = await withRetry(() => jsm.streams.info(name), o.retry).catch((e: unknown) => {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) return undefined;
      throw e;
    });
    if (existing && existing.state.messages > 0 && !o.force)
      throw new RestoreConflictError(
        `stream ${name} already holds ${existing.state.messages} messages: restore into an empty NATS, or pass --force to add to it`,
      );
    if (!existing) {
      const { sealed: _s, ...rest } = config as StreamConfig & { sealed?: boolean };
      await withRetry(() => jsm.streams.add(rest), o.retry);
    }
  }
  const streams: Record<string, number> = {};
  for (const name of names) {
    const total = manifest.streams[name] ?? 0;
    let done = 0;
    const lines = createInterface({ input: createReadStream(join(dir, name, "messages.jsonl")), crlfDelay: Infinity });
    let batch: Publishing[] = [];
    for await (const text of lines) {
      if (!text) continue;
      const l = JSON.parse(text) as Line;
      const h = natsHeaders();
      for (const [k, vs] of Object.entries(l.headers ?? {})) for (const v of vs) h.append(k, v);
      // what the original publish asked of the stream is no question now: the duplicate window must not drop a
      // message that was stored (its id goes), and a compare-and-set it passed (a KV update) holds by construction
      for (const k of [...h.keys()]) if (k === "Nats-Msg-Id" || k.startsWith("Nats-Expected-")) h.delete(k);
      // an id of its own place in the backup: a publish tried again while a leader is elected is stored once
      const msgID = `restore:${name}:${l.seq}`;
      // publishes in flight side by side, in order per subject (a stream keeps publish order)
      const publish = () => js.publish(l.subject, Buffer.from(l.data, "base64"), { headers: h, msgID, expect: { streamName: name } });
      batch.push({ publish, sent: publish() });
      done++;
      if (batch.length >= 256) {
        await settleOrRepeat(batch, o.retry);
        batch = [];
        o.progress?.(name, done, total);
      }
    }
    await settleOrRepeat(batch, o.retry);
    o.progress?.(name, done, total);
    streams[name] = done;
  }
  return { streams };
}
