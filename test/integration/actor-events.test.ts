import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { ACTORS_SUBJECT, BUCKETS, PASSIVATE_SUBJECT, sessionKey, WATCH_SUBJECT } from "../../src/bus/index.js";
import { type ActorEvent, type ActorListing, type WatchRequest } from "../../src/observability/index.js";
import { createSessionStore } from "../../src/actors/index.js";
import { useClawNode } from "../support/claw-fixture.js";
import { jsonBody } from "../support/replies.js";

const f = useClawNode();

/** Records the actor events on `subject`. */
function record(subject: string): { events: ActorEvent[]; stop(): void } {
  const events: ActorEvent[] = [];
  const sub = f.c.nc.subscribe(subject, { callback: (_, m) => void events.push(m.json<ActorEvent>()) });
  return { events, stop: () => sub.unsubscribe() };
}

const watch = (w: WatchRequest) => f.c.nc.publish(WATCH_SUBJECT, JSON.stringify(w));

/** Resolves once the session's turn on `id` is over: its snapshot (written after the actor is idle again) names it. */
async function turnOver(key: string, id: string): Promise<void> {
  const store = createSessionStore(await new Kvm(f.c.js).open(BUCKETS.sessions), { jsm: f.c.jsm });
  for (let i = 0; i < 200; i++) {
    const { snapshot } = await store.load(key);
    if ((snapshot as { context?: { lastTurnId?: string } } | undefined)?.context?.lastTurnId === id) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the turn on ${id} did not end`);
}

describe("live actor events", () => {
  it("publishes nothing for actors nobody watches", async () => {
    const all = record("claw.events.actor.>");
    await f.c.nc.flush();
    f.c.nc.publish("claw.in.ev.a.quiet", jsonBody({ id: "q-1", text: "hello", sender: { id: "u" } }));
    await f.out.waitFor("q-1");
    await new Promise((r) => setTimeout(r, 300));
    all.stop();
    expect(all.events).toEqual([]);
  });

  it("streams a watched session's transitions, starting with where it is now", async () => {
    const key = sessionKey("echo", "ev:a:watched");
    f.c.nc.publish("claw.in.ev.a.watched", jsonBody({ id: "w-0", text: "wake up", sender: { id: "u" } }));
    await f.out.waitFor("w-0");
    // the reply is out before the actor is idle again
    await turnOver(key, "w-0");
    const rec = record(`claw.events.actor.session.${key}`);
    await f.c.nc.flush();
    watch({ kind: "session", id: key, ttlMs: 10_000 });
    await f.c.nc.flush();
    // a fresh watch gets the current state at once
    for (let i = 0; i < 100 && rec.events.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(rec.events[0]).toMatchObject({ kind: "session", id: key, state: "idle", event: "@claw.watch", node: expect.any(String), machine: "assistant" });

    f.c.nc.publish("claw.in.ev.a.watched", jsonBody({ id: "w-1", text: "/slow 200 watch me", sender: { id: "u" } }));
    await f.out.waitFor("w-1");
    for (let i = 0; i < 100 && rec.events.filter((e) => e.state === "idle").length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    rec.stop();
    const moves = rec.events.slice(1).map((e) => [e.event, e.state]);
    expect(moves).toEqual([
      ["inbound.received", "thinking"],
      ["model.replied", "replying"],
      ["reply.published", "idle"],
    ]);
    const seqs = rec.events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it("shows the node supervisor (serving, leading) and its partition owners (running)", async () => {
    const rec = record("claw.events.actor.>");
    await f.c.nc.flush();
    watch({ kind: "node", ttlMs: 5_000 });
    watch({ kind: "partition", id: "0", ttlMs: 5_000 });
    await f.c.nc.flush();
    for (let i = 0; i < 100 && rec.events.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    rec.stop();
    expect(rec.events.find((e) => e.kind === "node")).toMatchObject({ state: "lifecycle.serving|leadership.leader|nats.available", event: "@claw.watch" });
    expect(rec.events.find((e) => e.kind === "partition")).toMatchObject({ id: "0", state: "running" });
  });

  it("gives a second watcher the current state when it asks for it", async () => {
    const key = sessionKey("echo", "ev:a:watched");
    const rec = record(`claw.events.actor.session.${key}`);
    await f.c.nc.flush();
    watch({ kind: "session", id: key, ttlMs: 10_000 }); // still watched by the earlier test: nothing new
    watch({ kind: "session", id: key, ttlMs: 10_000, current: true });
    await f.c.nc.flush();
    for (let i = 0; i < 100 && rec.events.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    rec.stop();
    expect(rec.events.map((e) => [e.event, e.state])).toEqual([["@claw.watch", "idle"]]);
  });

  it("lists the live actors of every node on request", async () => {
    const replies = await f.c.nc.requestMany(ACTORS_SUBJECT, JSON.stringify({ kind: "session", q: "watched" }), { maxWait: 500, maxMessages: 1 });
    const listings: ActorListing[] = [];
    for await (const m of replies) listings.push(m.json<ActorListing>());
    expect(listings).toHaveLength(1);
    expect(listings[0]!.actors).toEqual([
      { kind: "session", id: sessionKey("echo", "ev:a:watched"), state: "idle", since: expect.any(Number), machine: "assistant" },
    ]);
  });

  it("stops publishing when the watch expires", async () => {
    const key = sessionKey("echo", "ev:a:brief");
    const rec = record(`claw.events.actor.session.${key}`);
    await f.c.nc.flush();
    // a watch long enough for one turn on a loaded machine (how close a short one ends to its ttl is the
    // bench's: `npm run bench -- promises`, a 300 ms watch)
    const ttlMs = 2_000;
    const watchedAt = Date.now();
    watch({ kind: "session", id: key, ttlMs });
    f.c.nc.publish("claw.in.ev.a.brief", jsonBody({ id: "b-1", text: "one", sender: { id: "u" } }));
    await f.out.waitFor("b-1");
    await turnOver(key, "b-1");
    // the turn's transitions came while it was watched
    for (let i = 0; i < 100 && rec.events.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(Date.now() - watchedAt, "the turn ended within the watch").toBeLessThan(ttlMs);
    // past the ttl (a second more: the node counts it from when it got the watch)
    await new Promise((r) => setTimeout(r, Math.max(0, watchedAt + ttlMs + 1_000 - Date.now())));
    const seen = rec.events.length;
    expect(seen).toBeGreaterThanOrEqual(3);
    f.c.nc.publish("claw.in.ev.a.brief", jsonBody({ id: "b-2", text: "two", sender: { id: "u" } }));
    await f.out.waitFor("b-2");
    await turnOver(key, "b-2");
    await new Promise((r) => setTimeout(r, 200));
    rec.stop();
    expect(rec.events.length).toBe(seen);
  });

  it("passivates every idle session on request (claw.ctl.passivate), telling watchers it stopped", async () => {
    const key = sessionKey("echo", "ev:a:sleepy");
    f.c.nc.publish("claw.in.ev.a.sleepy", jsonBody({ id: "s-1", text: "hi", sender: { id: "u" } }));
    await f.out.waitFor("s-1");
    const rec = record(`claw.events.actor.session.${key}`);
    await f.c.nc.flush();
    watch({ kind: "session", id: key, ttlMs: 5_000 });
    await f.c.nc.flush();
    // the reply can arrive before its turn has saved the snapshot: a session still in its turn
    // is not passivated, so ask again until it is
    let reply = { passivated: 0, active: -1 };
    for (let i = 0; i < 50 && reply.active !== 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 50));
      reply = (await f.c.nc.request(PASSIVATE_SUBJECT, JSON.stringify({ olderThanMs: 0 }), { timeout: 5_000 })).json<{ passivated: number; active: number }>();
    }
    expect(reply.active).toBe(0);
    for (let i = 0; i < 100 && !rec.events.some((e) => e.status === "stopped"); i++) await new Promise((r) => setTimeout(r, 20));
    rec.stop();
    expect(rec.events.at(-1)).toMatchObject({ state: "idle", status: "stopped", event: "@claw.stopped" });
    // and it comes back from KV on its next message, history intact
    f.c.nc.publish("claw.in.ev.a.sleepy", jsonBody({ id: "s-2", text: "/history", sender: { id: "u" } }));
    expect((await f.out.waitFor("s-2")).text).toBe("1 earlier turns\n1. hi");
  });
});
