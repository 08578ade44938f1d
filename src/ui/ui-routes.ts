/**
 * The live view's HTTP routes under `/ui`, for the gateway's `liveView`
 * hook: the page and its assets, a JSON API (machines, actors, a session's
 * persisted state, the cluster) and the SSE stream of live actor events.
 *
 * | route | answer |
 * |---|---|
 * | `GET /ui`, `GET /ui/assets/*` | the page and its ES modules and CSS |
 * | `GET /chat` | the web chat page (`chat.html`; it talks to the gateway's `/v1/ws`) |
 * | `GET /ui/api/machines` | every actor kind's statechart, laid out, and the text metrics it assumes |
 * | `GET /ui/api/actors?kind=&q=` | live actors of every node, merged |
 * | `GET /ui/api/actors/session/<id>` | a session's persisted context, secrets redacted |
 * | `GET /ui/api/cluster` | members, leader, epoch, partitions, dead letters, this node's readiness (503 while NATS cannot be read) |
 * | `GET /ui/events?kind=&id=` | SSE: `actor` events of the watched actors, `cluster` every 2 s |
 *
 * `ui:read` shows the state machines, the cluster with its counts, the
 * actors that are not sessions, and the viewer's own sessions; another
 * caller's session — that it exists, how it moves, its history — needs the
 * scope `sessions:any` (which the open loopback gateway's caller has, as it
 * has every scope).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Bus } from "../bus/index.js";
import { HttpError, maySeeSession, principalOf, CROSS_SESSION_SCOPE } from "../gateway/index.js";
import type { Principal } from "../auth/index.js";
import type { ActorEvents } from "../observability/index.js";
import { createActorDirectory, parseActorId, parseKind, splitSessionKey } from "./actor-directory.js";
import { createClusterFeed, readClusterView, unreadableView, type ClusterSnapshot } from "./cluster-feed.js";
import { defaultLiveEventsTiming, serveLiveEvents, type LiveEventsTiming, type LiveTarget } from "./live-events.js";
import { cachedMachineLayouts, layoutMachines, type ActorMachines } from "./machine-layouts.js";
import { CHART_TEXT } from "./statechart-layout.js";
import { defaultAssetsDir, sendAsset } from "./static-assets.js";

/** Options of {@link createUiRoutes}. */
export interface UiRoutesOptions {
  bus: Bus;
  nodeId: string;
  actorEvents: ActorEvents;
  /** the cluster's members, leader and partitions (the supervisors' `clusterStatus`) */
  readCluster: () => Promise<ClusterSnapshot>;
  /** this node's readiness, shown beside the cluster */
  readiness: () => { ready: boolean; reasons: string[] };
  /** built assets (default `dist/ui/assets`, beside the compiled module) */
  assetsDir?: string;
  /** the actor kinds' machines (laid out once, on first use) */
  machines: ActorMachines;
  timing?: Partial<LiveEventsTiming>;
  /** unexpected failures (the browser gets a 500 naming them) */
  onError?: (e: unknown) => void;
}

/** The routes, the gateway's `liveView`; `close` ends open event streams. */
export interface UiRoutes {
  /** handles `/ui` and below; false for any other path */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  close(): void;
}

/** Another caller's session, asked for by a viewer without the cross-session scope. */
const forbidden = () => new HttpError(403, "forbidden", `another caller's session: its state and history need its owner or the scope ${CROSS_SESSION_SCOPE}`);

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(data), "cache-control": "no-store" });
  res.end(data);
}

/** `?kind=session&id=*` → what to follow; no kind means only the cluster. */
function liveTarget(url: URL): LiveTarget {
  const kind = url.searchParams.get("kind");
  const id = url.searchParams.get("id");
  if (!kind) return {};
  return { kind: parseKind(kind), ...(id && id !== "*" ? { id: parseActorId(id) } : {}) };
}

/** True when `p` may see the session actor `id` (`<agent>.<session>`): its owner, or with the cross-session scope. */
function seesSession(id: string, p: Principal): boolean {
  const names = splitSessionKey(id);
  return names !== undefined && maySeeSession(names.session, p);
}

/** Creates the `/ui` routes of a node. */
export function createUiRoutes(o: UiRoutesOptions): UiRoutes {
  const assetsDir = o.assetsDir ?? defaultAssetsDir();
  const machines = cachedMachineLayouts(() => layoutMachines(o.machines));
  const timing = { ...defaultLiveEventsTiming(), ...o.timing };
  const directory = createActorDirectory({ bus: o.bus, actorEvents: o.actorEvents });
  const source = { bus: o.bus, nodeId: o.nodeId, readCluster: o.readCluster, readiness: o.readiness };
  const feed = createClusterFeed({ ...source, onError: o.onError });
  const closing = new AbortController();

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (req.method !== "GET") throw new HttpError(405, "method_not_allowed", "the live view answers GET only");
    if (path === "/ui" || path === "/ui/") return sendAsset(res, assetsDir, "index.html");
    if (path.startsWith("/ui/assets/")) return sendAsset(res, assetsDir, path.slice("/ui/assets/".length));
    if (path === "/ui/api/machines") return sendJson(res, 200, { machines: await machines(), text: CHART_TEXT });
    if (path === "/ui/api/cluster") {
      // while NATS is away the page still learns why (the node's readiness), with a 503
      const view = await readClusterView(source).catch((e: unknown) => unreadableView(source, undefined, e));
      return sendJson(res, view.error ? 503 : 200, view);
    }
    const viewer = principalOf(req);
    if (path === "/ui/api/actors") {
      const kind = url.searchParams.get("kind");
      const q = url.searchParams.get("q") ?? "";
      const list = await directory.list({ ...(kind ? { kind: parseKind(kind) } : {}), ...(q ? { q } : {}) });
      const actors = list.actors.filter((a) => a.kind !== "session" || seesSession(a.id, viewer));
      // the sessions left out are counted, not named
      return sendJson(res, 200, { ...list, actors, hiddenSessions: list.actors.length - actors.length });
    }
    const detail = /^\/ui\/api\/actors\/([^/]+)\/([^/]+)$/.exec(path);
    if (detail) {
      const kind = parseKind(decodeURIComponent(detail[1]!));
      if (kind !== "session") throw new HttpError(404, "no_state", `actors of kind ${kind} have no persisted state`);
      const id = decodeURIComponent(detail[2]!);
      if (!seesSession(id, viewer)) throw forbidden();
      return sendJson(res, 200, await directory.session(id));
    }
    if (path === "/ui/events") {
      const target = liveTarget(url);
      if (target.kind === "session" && target.id !== undefined && !seesSession(target.id, viewer)) throw forbidden();
      const visible = (e: { kind: string; id: string }) => e.kind !== "session" || seesSession(e.id, viewer);
      return serveLiveEvents(res, { nc: o.bus.nc, nodeId: o.nodeId, target, feed, timing, signal: closing.signal, visible });
    }
    throw new HttpError(404, "not_found", `no live-view route for ${path}`);
  }

  return {
    async handle(req, res, url) {
      // the web chat page (its WebSocket is the gateway's /v1/ws); its script and style are assets like the live view's
      if (url.pathname === "/chat" && req.method === "GET") {
        await sendAsset(res, assetsDir, "chat.html");
        return true;
      }
      if (url.pathname !== "/ui" && !url.pathname.startsWith("/ui/")) return false;
      try {
        await route(req, res, url);
      } catch (e) {
        if (e instanceof HttpError) throw e;
        // the gateway would call any other failure "could not accept the message": name it here
        o.onError?.(e);
        throw new HttpError(500, "ui_error", `the live view failed: ${(e as Error)?.message ?? String(e)}`, undefined, { cause: e });
      }
      return true;
    },
    close() {
      closing.abort();
      feed.close();
    },
  };
}
