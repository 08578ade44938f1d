/**
 * `GET /v1/media/{id}`: a medium a skill made (a browser's screenshot),
 * from the object store `claw_media`. Public, as a platform fetching a
 * reply's image has no Claw credential: the id (160 random bits) is the
 * capability, and nothing lists them. Sent with its type, as an attachment
 * unless it is an image, and never sniffed or run as a page.
 */
import type { MediaStore } from "../media/index.js";
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";

/** Types shown inline; anything else is a download. */
const INLINE = /^image\/(png|jpeg|gif|webp)$/;

/** The `/v1/media` route's handler. */
export function mediaRoutes(media: MediaStore): Pick<RouteHandlers, "GET /v1/media/{id}"> {
  return {
    "GET /v1/media/{id}": async (_req, res, { params }) => {
      const m = await media.read(params.id!);
      if (!m) throw new HttpError(404, "no_media", `no medium ${params.id} (an unknown id, or one past CLAW_MEDIA_MAX_AGE_DAYS)`);
      const inline = INLINE.test(m.mime);
      const filename = (m.name ?? params.id!).replace(/[^\w.-]/g, "_");
      res.writeHead(200, {
        "content-type": inline ? m.mime : "application/octet-stream",
        "content-length": String(m.size),
        "content-disposition": `${inline ? "inline" : "attachment"}; filename="${filename}"`,
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
        "cache-control": "private, max-age=86400, immutable",
      });
      res.end(m.data);
    },
  };
}
