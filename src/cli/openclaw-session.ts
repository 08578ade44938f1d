/**
 * What the readers of an OpenClaw state directory find: its sessions, and
 * what they left out and why.
 */
/** One OpenClaw session and its events. */
export interface OpenClawSession {
  /** the OpenClaw agent it belongs to, when the path says */
  agent: string | undefined;
  /** its session key (`agent:main:openai-user:alice`), when known */
  key: string | undefined;
  sessionId: string;
  /** where it was read from */
  source: string;
  /** OpenClaw's channel account of the session, when recorded */
  account?: string;
  events: unknown[];
  /** lines or rows that could not be read */
  skipped: number;
}

/** Something found and not imported, and why. */
export interface LeftOut {
  source: string;
  why: string;
}
