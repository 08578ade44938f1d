/**
 * The live view's server API: JSON endpoints under /ui/api and the SSE
 * stream /ui/events (see src/ui/ui-routes.ts).
 */

/** GETs a JSON endpoint; rejects with the server's error message. */
export async function getJson(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error(body?.error?.message ?? `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.code = body?.error?.code;
    throw err;
  }
  return body;
}

/**
 * Opens the event stream for `kind` (all of its actors when `id` is absent)
 * and calls `on.actor(event)`, `on.cluster(view)`, `on.pairing(announcement)`
 * (a watched channel account's QR code or pairing code) and `on.status("open" | "error")`.
 * Returns a function that closes it.
 */
export function openEvents({ kind, id }, on) {
  const params = new URLSearchParams();
  if (kind) params.set("kind", kind);
  params.set("id", id ?? "*");
  const source = new EventSource(`/ui/events?${params}`);
  const parse = (handler) => (m) => {
    try {
      handler(JSON.parse(m.data));
    } catch (e) {
      console.error("bad event", e, m.data);
    }
  };
  source.addEventListener(
    "actor",
    parse((e) => on.actor?.(e)),
  );
  source.addEventListener(
    "cluster",
    parse((v) => on.cluster?.(v)),
  );
  source.addEventListener(
    "pairing",
    parse((p) => on.pairing?.(p)),
  );
  source.addEventListener(
    "hello",
    parse((h) => on.status?.("open", h)),
  );
  source.onerror = () => on.status?.(source.readyState === EventSource.CLOSED ? "closed" : "error");
  return () => source.close();
}
