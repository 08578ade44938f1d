/**
 * Server-Sent Events from a fetch answer's body, read with a plain reader so
 * it works in every browser as in Node: events as `{ event, data }`, a
 * comment or a field the format does not know skipped. Leaving the loop
 * early cancels the body (and so the request).
 */
export interface SseEvent {
  /** `event:`; undefined for the default (`message`) */
  event: string | undefined;
  /** the `data:` lines, joined with newlines */
  data: string;
}

export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let data: string[] = [];
  let event: string | undefined;
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (;;) {
        const m = /\r\n|\n|\r/.exec(buf);
        // a lone \r at the end may be the first half of \r\n: wait for what follows
        if (!m || (m[0] === "\r" && m.index === buf.length - 1 && !done)) break;
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === "") {
          if (data.length > 0) yield { event, data: data.join("\n") };
          data = [];
          event = undefined;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "event") event = value;
      }
      if (done) break;
    }
    ended = true;
    if (data.length > 0) yield { event, data: data.join("\n") };
  } finally {
    if (!ended) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
