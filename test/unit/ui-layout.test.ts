import { describe, expect, it } from "vitest";
import { and, createMachine, fromPromise, not, setup, type AnyStateMachine, type AnyStateNode } from "xstate";
import { AGENT_KINDS, assistantMachine as sessionMachine } from "../../src/actors/index.js";
import { ACTOR_MACHINES } from "../../src/supervisors/actor-machines.js";
import { layoutMachines, layoutStatechart, redactSecrets, REDACTED, statechartOf, type StatechartLayout } from "../../src/ui/index.js";

/** Every (source, event, target) triple XState itself knows of, read straight from the state nodes. */
function machineTransitions(machine: AnyStateMachine): string[] {
  const out: string[] = [];
  const walk = (n: AnyStateNode) => {
    const list = [...[...n.transitions.values()].flat(), ...(n.always ?? [])];
    for (const t of list) {
      const targets = t.target?.length ? t.target.map((x: AnyStateNode) => x.path.join(".")) : [undefined];
      for (const target of targets) out.push(`${n.path.join(".")} --${t.eventType}--> ${target ?? "(stays)"}`);
    }
    for (const c of Object.values(n.states) as AnyStateNode[]) walk(c);
  };
  walk(machine.root);
  return out.sort();
}

const triples = (m: AnyStateMachine) =>
  statechartOf(m)
    .transitions.map((t) => `${t.source} --${t.event}--> ${t.target ?? "(stays)"}`)
    .sort();

/** A machine with nesting, parallel regions, delays, eventless and guarded transitions, history and an invoked actor. */
const nestedMachine = setup({
  actors: { fetcher: fromPromise(async () => 1) },
  guards: { ready: () => true, ok: () => true, fresh: () => true },
}).createMachine({
  id: "player",
  initial: "stopped",
  on: { "player.reset": ".stopped" },
  states: {
    stopped: { on: { "play.pressed": { target: "playing", guard: not("ok") }, "jump.pressed": "#player.playing.audio.muted" } },
    playing: {
      type: "parallel",
      on: { "stop.pressed": "stopped", "volume.up": ".audio.loud" },
      onDone: "stopped",
      states: {
        audio: {
          initial: "normal",
          states: {
            normal: { on: { "mute.pressed": "muted" }, after: { 5000: "loud" } },
            muted: { always: { target: "loud", guard: and(["ready", "fresh"]) } },
            loud: { type: "final" },
            hist: { type: "history", history: "deep" },
          },
        },
        video: {
          initial: "loading",
          states: {
            loading: { invoke: { src: "fetcher", onDone: "shown", onError: "broken" } },
            shown: { type: "final" },
            broken: { on: { "retry.pressed": { target: "loading", reenter: true } } },
          },
        },
      },
    },
  },
});

function inside(child: { x: number; y: number; width: number; height: number }, parent: { x: number; y: number; width: number; height: number }): boolean {
  return child.x >= parent.x && child.y >= parent.y && child.x + child.width <= parent.x + parent.width && child.y + child.height <= parent.y + parent.height;
}

/** Distance from a point to a box's outline (0 on it). */
function toOutline(p: { x: number; y: number }, b: { x: number; y: number; width: number; height: number }): number {
  const dx = Math.max(b.x - p.x, 0, p.x - (b.x + b.width));
  const dy = Math.max(b.y - p.y, 0, p.y - (b.y + b.height));
  const outside = Math.hypot(dx, dy);
  if (outside > 0) return outside;
  return Math.min(p.x - b.x, b.x + b.width - p.x, p.y - b.y, b.y + b.height - p.y);
}

function expectDrawable(layout: StatechartLayout) {
  const byPath = new Map(layout.states.map((s) => [s.path, s]));
  expect(layout.width).toBeGreaterThan(0);
  expect(layout.height).toBeGreaterThan(0);
  for (const s of layout.states) {
    expect(s.width, s.path).toBeGreaterThan(0);
    expect(s.height, s.path).toBeGreaterThan(0);
    if (s.parent !== undefined) expect(inside(s, byPath.get(s.parent)!), `${s.path} inside ${s.parent}`).toBe(true);
  }
  for (const t of layout.transitions) {
    const name = `${t.source} --${t.event}--> ${t.target}`;
    expect(t.points.length, name).toBeGreaterThanOrEqual(2);
    expect(t.labelBox, name).toBeDefined();
    // routes start on their source's outline and end on their target's
    expect(toOutline(t.points[0]!, byPath.get(t.source)!), name).toBeLessThan(2);
    expect(toOutline(t.points.at(-1)!, byPath.get(t.target ?? t.source)!), name).toBeLessThan(2);
  }
  for (const i of layout.initials) {
    expect(inside(i.marker, byPath.get(i.state)!)).toBe(true);
    expect(toOutline(i.points.at(-1)!, byPath.get(i.target)!)).toBeLessThan(2);
  }
}

describe("statechart extraction", () => {
  it("has every state and every transition of the session machine, with guards", () => {
    const chart = statechartOf(sessionMachine);
    expect(chart.id).toBe("session");
    expect(chart.states.map((s) => [s.path, s.type])).toEqual([
      ["", "compound"],
      ["idle", "atomic"],
      ["thinking", "atomic"],
      ["acting", "compound"],
      ["acting.dispatching", "atomic"],
      ["acting.approving", "atomic"],
      ["acting.decided", "atomic"],
      ["acting.releasing", "atomic"],
      ["acting.waiting", "atomic"],
      ["cancelling", "atomic"],
      ["replying", "atomic"],
    ]);
    expect(chart.states[0]!.initial).toBe("idle");
    // effects are performed by the session host and come back as events: nothing is invoked
    expect(chart.states.find((s) => s.path === "thinking")!.invokes).toEqual([]);
    expect(chart.states.find((s) => s.path === "replying")!.invokes).toEqual([]);
    expect(triples(sessionMachine)).toEqual(machineTransitions(sessionMachine));
    const summary = chart.transitions.map((t) => [t.source, t.label, t.guard ?? "", t.target ?? "(stays)"]);
    expect(summary).toEqual([
      ["idle", "inbound.received", "alreadyAnswered", "(stays)"],
      ["idle", "inbound.received", "", "thinking"],
      ["thinking", "model.replied", "", "replying"],
      ["thinking", "model.called", "", "acting"],
      ["thinking", "model.failed", "", "idle"],
      ["acting.dispatching", "tools.dispatched", "allImmediate", "thinking"],
      ["acting.dispatching", "tools.dispatched", "approvalsAsked", "acting.approving"],
      ["acting.dispatching", "tools.dispatched", "", "acting.waiting"],
      ["acting.dispatching", "tools.failed", "", "idle"],
      ["acting.approving", "approval.decided", "approved", "acting.releasing"],
      ["acting.approving", "approval.decided", "denied", "acting.decided"],
      ["acting.approving", "tool.result", "awaited", "(stays)"],
      ["acting.approving", "tool.deadline", "anyPastDeadline", "(stays)"],
      ["acting.approving", "inbound.interrupt", "anotherMessage", "cancelling"],
      ["acting.decided", "always", "approvalsLeft", "acting.approving"],
      ["acting.decided", "always", "callsLeft", "acting.waiting"],
      ["acting.decided", "always", "", "thinking"],
      ["acting.releasing", "tools.released", "approvalsLeft", "acting.approving"],
      ["acting.releasing", "tools.released", "", "acting.waiting"],
      ["acting.releasing", "tools.failed", "", "idle"],
      ["acting.waiting", "tool.result", "lastAwaited", "thinking"],
      ["acting.waiting", "tool.result", "awaited", "(stays)"],
      ["acting.waiting", "tool.deadline", "allPastDeadline", "thinking"],
      ["acting.waiting", "tool.deadline", "anyPastDeadline", "(stays)"],
      ["acting.waiting", "inbound.interrupt", "anotherMessage", "cancelling"],
      ["cancelling", "tools.cancelled", "", "thinking"],
      ["replying", "reply.published", "", "idle"],
      ["replying", "reply.failed", "", "idle"],
    ]);
  });

  it("reads nested and parallel states, history, delays, eventless transitions, invocations and higher-order guards", () => {
    const chart = statechartOf(nestedMachine);
    const state = (p: string) => chart.states.find((s) => s.path === p)!;
    expect(chart.states.map((s) => s.path)).toEqual([
      "",
      "stopped",
      "playing",
      "playing.audio",
      "playing.audio.normal",
      "playing.audio.muted",
      "playing.audio.loud",
      "playing.audio.hist",
      "playing.video",
      "playing.video.loading",
      "playing.video.shown",
      "playing.video.broken",
    ]);
    expect(state("playing").type).toBe("parallel");
    expect(state("playing").initial).toBeUndefined();
    expect(state("playing.audio")).toMatchObject({ type: "compound", parent: "playing", initial: "playing.audio.normal" });
    expect(state("playing.audio.loud").type).toBe("final");
    expect(state("playing.audio.hist")).toMatchObject({ type: "history", history: "deep" });
    expect(state("playing.video.loading").invokes).toEqual(["fetcher"]);

    expect(triples(nestedMachine)).toEqual(machineTransitions(nestedMachine));
    const find = (source: string, label: string) => chart.transitions.filter((t) => t.source === source && t.label === label);
    expect(find("", "player.reset")[0]?.target).toBe("stopped");
    expect(find("stopped", "play.pressed")[0]).toMatchObject({ target: "playing", guard: "not(ok)" });
    expect(find("stopped", "jump.pressed")[0]?.target).toBe("playing.audio.muted");
    expect(find("playing", "volume.up")[0]?.target).toBe("playing.audio.loud");
    expect(find("playing", "done")[0]).toMatchObject({ kind: "done.state", target: "stopped" });
    expect(find("playing.audio.normal", "after 5000ms")[0]).toMatchObject({ kind: "after", target: "playing.audio.loud" });
    expect(find("playing.audio.muted", "always")[0]).toMatchObject({ kind: "always", event: "", guard: "and(ready, fresh)" });
    expect(find("playing.video.loading", "done: fetcher")[0]).toMatchObject({ kind: "done.actor", target: "playing.video.shown" });
    expect(find("playing.video.loading", "error: fetcher")[0]).toMatchObject({ kind: "error.actor", target: "playing.video.broken" });
    expect(find("playing.video.broken", "retry.pressed")[0]).toMatchObject({ reenter: true, target: "playing.video.loading" });
  });

  it("gives a transition into several parallel regions one edge per target", () => {
    const m = createMachine({
      id: "split",
      initial: "a",
      states: {
        a: { on: { go: { target: ["#split.b.left.two", "#split.b.right.four"] } } },
        b: {
          type: "parallel",
          states: { left: { initial: "one", states: { one: {}, two: {} } }, right: { initial: "three", states: { three: {}, four: {} } } },
        },
      },
    });
    const go = statechartOf(m).transitions.filter((t) => t.event === "go");
    expect(go.map((t) => t.target)).toEqual(["b.left.two", "b.right.four"]);
    expect(new Set(go.map((t) => t.id)).size).toBe(2);
  });
});

describe("statechart layout", () => {
  it("places every state of the session machine inside its parent and routes every transition between its states", async () => {
    const layout = await layoutStatechart(statechartOf(sessionMachine));
    expect(layout.states.map((s) => s.path).sort()).toEqual([
      "",
      "acting",
      "acting.approving",
      "acting.decided",
      "acting.dispatching",
      "acting.releasing",
      "acting.waiting",
      "cancelling",
      "idle",
      "replying",
      "thinking",
    ]);
    expect(layout.transitions).toHaveLength(28);
    expectDrawable(layout);
    // the targetless, guarded transition is drawn as a loop on idle
    const loop = layout.transitions.find((t) => t.guard === "alreadyAnswered")!;
    expect(loop.target).toBeUndefined();
    expect(loop.points.length).toBeGreaterThan(2);
  });

  it("nests parallel regions and their states, and routes edges across levels", async () => {
    const layout = await layoutStatechart(statechartOf(nestedMachine));
    expectDrawable(layout);
    const byPath = new Map(layout.states.map((s) => [s.path, s]));
    // the two regions of the parallel state do not overlap
    const audio = byPath.get("playing.audio")!;
    const video = byPath.get("playing.video")!;
    const apart =
      audio.x + audio.width <= video.x || video.x + video.width <= audio.x || audio.y + audio.height <= video.y || video.y + video.height <= audio.y;
    expect(apart).toBe(true);
    expect(layout.initials.map((i) => i.state).sort()).toEqual(["", "playing.audio", "playing.video"]);
  });

  it("lays out every machine of the registry, sessions once per agent kind", async () => {
    const layouts = await layoutMachines(ACTOR_MACHINES);
    expect(new Set(layouts.map((l) => l.kind))).toEqual(new Set(["session", "skill", "partition", "node", "channel"]));
    // each agent kind's sessions are drawn with that kind's own machine, under the kind's name
    expect(layouts.filter((l) => l.kind === "session").map((l) => [l.machine, l.id])).toEqual([...AGENT_KINDS.values()].map((k) => [k.name, k.machine.id]));
    for (const [i, l] of layouts.entries()) {
      expect(l.transitions.length).toBe(statechartOf(ACTOR_MACHINES[i]!.logic).transitions.length);
      expectDrawable(l);
    }
  }, 20_000);
});

describe("redaction of persisted context", () => {
  it("hides values of secret-looking keys at any depth and keeps everything else", () => {
    const out = redactSecrets({
      agent: "echo",
      apiKey: "sk-123",
      history: [{ role: "user", text: "hi", metadata: { authorization: "Bearer x", Password: "p", nested: { client_secret: { a: 1 } } } }],
      maxTokens: 512,
      accessToken: null,
    });
    expect(out).toEqual({
      agent: "echo",
      apiKey: REDACTED,
      history: [{ role: "user", text: "hi", metadata: { authorization: REDACTED, Password: REDACTED, nested: { client_secret: REDACTED } } }],
      maxTokens: 512,
      accessToken: null,
    });
  });
});
