/**
 * A local fake of Telegram's Bot API (`https://api.telegram.org/bot<token>/<method>`)
 * for tests: grammY pointed at it with `apiRoot` speaks to it as to Telegram.
 * It holds updates for `getUpdates` (long polling, `offset` confirming what
 * came before, as Telegram does), records every call, and can answer a
 * method with an error (a 429 with `retry_after`) or be down (502). Like
 * Telegram it serves one `getUpdates` at a time: a second one while another
 * is open ends the earlier with 409 Conflict, and the fake records it — two
 * pollers of one bot show there.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";

/** One recorded call. */
export interface BotCall {
  method: string;
  payload: Record<string, any>;
  at: number;
  /** answered with success */
  ok: boolean;
}

/** A Telegram message as the fake makes it. */
export interface FakeMessageInput {
  chatId: number;
  text?: string;
  chatType?: "private" | "group" | "supergroup";
  from?: { id: number; first_name: string; username?: string };
  replyToBot?: boolean;
}

/** The running fake. */
export interface FakeTelegram extends AsyncDisposable {
  /** for grammY's `apiRoot` (and Claw's `apiRoot` option) */
  readonly apiRoot: string;
  readonly token: string;
  readonly calls: BotCall[];
  /** the update_ids getUpdates answered with, in order (a repeat shows twice) */
  readonly delivered: number[];
  /** when a getUpdates came while another was open (ending that one with 409 Conflict): two pollers at once */
  readonly conflicts: number[];
  /** queues an update with a message; returns its update_id */
  push(m: FakeMessageInput): number;
  /** queues an update as it is, its update_id kept; `again`: delivered once even if an offset confirmed it (Telegram repeating itself) */
  pushRaw(update: Record<string, any>, again?: boolean): void;
  /** the next `n` calls of `method` answer this error instead */
  failNext(method: string, n: number, error: { error_code: number; description: string; parameters?: Record<string, unknown> }): void;
  /** while down, every call answers 502 Bad Gateway */
  down: boolean;
  /** messages sent to a chat (answered with success), their texts in order */
  sentTo(chatId: number): string[];
  close(): Promise<void>;
}

export const FAKE_BOT = { id: 999_000, is_bot: true, first_name: "Claw", username: "claw_test_bot" };

async function body(req: IncomingMessage): Promise<Record<string, any>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text) return {};
  if ((req.headers["content-type"] ?? "").includes("json")) return JSON.parse(text) as Record<string, any>;
  return Object.fromEntries(new URLSearchParams(text));
}

/** Starts the fake on a free loopback port. */
export async function startFakeTelegram(token = "123456:TEST-token_for-claw"): Promise<FakeTelegram> {
  const updates: Array<Record<string, any>> = [];
  const calls: BotCall[] = [];
  const failures = new Map<string, Array<{ error_code: number; description: string; parameters?: Record<string, unknown> }>>();
  const waiters = new Set<() => void>();
  const repeats = new Set<Record<string, any>>();
  const delivered: number[] = [];
  const conflicts: number[] = [];
  /** the getUpdates being answered now, if one is */
  let polling: { terminate(): void } | undefined;
  let nextUpdate = 1;
  let nextMessage = 1;
  let confirmed = 0;
  const wake = () => {
    for (const w of waiters) w();
    waiters.clear();
  };

  const server: Server = createServer(async (req, res) => {
    const answer = (status: number, v: unknown) => {
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(v));
    };
    const m = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? "");
    if (!m || m[1] !== token) return answer(404, { ok: false, error_code: 404, description: "Not Found" });
    const method = m[2]!;
    const payload = await body(req);
    const call: BotCall = { method, payload, at: Date.now(), ok: false };
    calls.push(call);
    if (fake.down) return answer(502, { ok: false, error_code: 502, description: "Bad Gateway" });
    const failure = failures.get(method)?.shift();
    if (failure) return answer(failure.error_code, { ok: false, ...failure });
    call.ok = true;
    switch (method) {
      case "getMe":
        return answer(200, { ok: true, result: FAKE_BOT });
      case "getUpdates": {
        // one long poll per bot, as Telegram: a second one ends the first
        let terminated = false;
        const mine = {
          terminate() {
            terminated = true;
            wake();
          },
        };
        if (polling) {
          conflicts.push(Date.now());
          polling.terminate();
        }
        polling = mine;
        // a poller that dies (its connection closes) no longer polls
        res.once("close", () => {
          if (polling === mine) polling = undefined;
        });
        const offset = Number(payload.offset ?? 0);
        if (offset > confirmed) confirmed = offset;
        // Telegram forgets what an offset confirmed
        for (let i = updates.length - 1; i >= 0; i--) if (updates[i]!.update_id < confirmed && !repeats.has(updates[i]!)) updates.splice(i, 1);
        const deadline = Date.now() + Number(payload.timeout ?? 0) * 1000;
        while (updates.length === 0 && Date.now() < deadline && !req.destroyed) {
          await new Promise<void>((r) => {
            const t = setTimeout(r, Math.max(0, deadline - Date.now()));
            waiters.add(() => {
              clearTimeout(t);
              r();
            });
          });
          if (fake.down) return answer(502, { ok: false, error_code: 502, description: "Bad Gateway" });
          if (terminated) break;
        }
        if (polling === mine) polling = undefined;
        if (terminated) {
          call.ok = false;
          return answer(409, {
            ok: false,
            error_code: 409,
            description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
          });
        }
        const result = updates.filter((u) => u.update_id >= confirmed || repeats.has(u)).slice(0, Number(payload.limit ?? 100));
        for (const u of result) repeats.delete(u);
        delivered.push(...result.map((u) => Number(u.update_id)));
        return answer(200, { ok: true, result });
      }
      case "sendMessage":
        return answer(200, {
          ok: true,
          result: {
            message_id: nextMessage++,
            date: Math.floor(Date.now() / 1000),
            chat: { id: Number(payload.chat_id), type: "private" },
            from: FAKE_BOT,
            text: payload.text,
          },
        });
      case "sendPhoto":
      case "sendDocument":
      case "sendAudio":
      case "sendVideo":
      case "sendSticker":
        return answer(200, {
          ok: true,
          result: {
            message_id: nextMessage++,
            date: Math.floor(Date.now() / 1000),
            chat: { id: Number(payload.chat_id), type: "private" },
            from: FAKE_BOT,
            ...(payload.caption ? { caption: payload.caption } : {}),
          },
        });
      case "editMessageText":
        return answer(200, {
          ok: true,
          result: {
            message_id: Number(payload.message_id),
            date: Math.floor(Date.now() / 1000),
            chat: { id: Number(payload.chat_id), type: "private" },
            from: FAKE_BOT,
            text: payload.text,
          },
        });
      case "sendChatAction":
      case "setWebhook":
        return answer(200, { ok: true, result: true });
      default:
        return answer(404, { ok: false, error_code: 404, description: `Not Found: method ${method}` });
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;

  const fake: FakeTelegram = {
    apiRoot: `http://127.0.0.1:${port}`,
    token,
    calls,
    delivered,
    conflicts,
    down: false,
    push(i) {
      const update_id = nextUpdate++;
      const from = i.from ?? { id: i.chatId, first_name: "Ann", username: "ann" };
      const message: Record<string, any> = {
        message_id: 1000 + update_id,
        date: Math.floor(Date.now() / 1000),
        chat: { id: i.chatId, type: i.chatType ?? "private" },
        from,
        text: i.text,
      };
      if (i.replyToBot) message.reply_to_message = { message_id: 1, date: 0, chat: message.chat, from: FAKE_BOT, text: "earlier" };
      updates.push({ update_id, message });
      wake();
      return update_id;
    },
    pushRaw(update, again = false) {
      updates.push(update);
      if (again) repeats.add(update);
      nextUpdate = Math.max(nextUpdate, Number(update.update_id) + 1);
      wake();
    },
    failNext(method, n, error) {
      failures.set(method, [...(failures.get(method) ?? []), ...Array.from({ length: n }, () => error)]);
    },
    sentTo(chatId) {
      return calls.filter((c) => c.ok && c.method === "sendMessage" && Number(c.payload.chat_id) === chatId).map((c) => String(c.payload.text));
    },
    async close() {
      wake();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
    [Symbol.asyncDispose]() {
      return fake.close();
    },
  };
  return fake;
}
