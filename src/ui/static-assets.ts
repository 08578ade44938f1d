/**
 * The live view's static files (HTML, ES modules, CSS), copied by
 * `npm run build` from `ui/` to `dist/ui/assets`. Served with their content
 * type; a path that leaves the assets folder is refused.
 */
import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { extname, resolve, sep } from "node:path";
import { UI_ASSETS_DIR } from "../paths.js";
import { HttpError } from "../gateway/index.js";

/** Where the built assets are: `dist/ui/assets`. */
export function defaultAssetsDir(): string {
  return UI_ASSETS_DIR;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** The content type of a file name (`application/octet-stream` when unknown). */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
}

/**
 * Resolves `relative` (URL-encoded, as in the request path) inside `dir`;
 * throws a 404 {@link HttpError} for anything that would leave it.
 */
export function assetPath(dir: string, relative: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    throw new HttpError(400, "bad_path", "malformed percent-encoding in the path");
  }
  const root = resolve(dir);
  const file = resolve(root, decoded);
  if (decoded.includes("\0") || decoded.includes("\\") || !file.startsWith(root + sep)) {
    throw new HttpError(404, "not_found", `no asset ${relative}`);
  }
  return file;
}

/** Sends one asset, or a 404 when it does not exist. */
export async function sendAsset(res: ServerResponse, dir: string, relative: string): Promise<void> {
  const file = assetPath(dir, relative);
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR") {
      throw new HttpError(404, "not_found", `no asset ${relative} in ${dir} (the live view's files are built by npm run build)`);
    }
    throw e;
  }
  // small files that change with every build: revalidate instead of caching stale code
  res.writeHead(200, { "content-type": contentTypeOf(file), "content-length": body.length, "cache-control": "no-cache" });
  res.end(body);
}
