/**
 * One HTTP request to a test node's gateway, its answer read whole: status,
 * headers, text, and the text as JSON when it is JSON.
 */

/** What a request got back. */
export interface HttpReply {
  status: number;
  headers: Headers;
  // the body as JSON, when it is: tests read into it freely
  json: any;
  text: string;
}

/** Sends `method path` to `node`'s gateway: `body` as JSON, `key` as a bearer credential, `headers` beside them. */
export async function httpCall(
  node: { httpPort: number },
  method: string,
  path: string,
  o: { body?: unknown; key?: string; headers?: Record<string, string>; redirect?: "follow" | "manual" | "error" } = {},
): Promise<HttpReply> {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
    method,
    headers: {
      ...(o.body !== undefined ? { "content-type": "application/json" } : {}),
      ...(o.key ? { authorization: `Bearer ${o.key}` } : {}),
      ...o.headers,
    },
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
    ...(o.redirect ? { redirect: o.redirect } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}
