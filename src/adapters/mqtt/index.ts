/**
 * MQTT (Mosquitto, any MQTT 5 broker) through mqtt.js: one persistent
 * session per account (`clean: false`, a session expiry), subscribed at
 * QoS 1; a message is PUBACKed only once `claw.in` holds it, so the broker
 * keeps what Claw has not taken — across a reconnect, and across a move of
 * the account to another node (the session is the client id's).
 *
 * - The chat: the topic (made a subject token by the bus' encoder).
 * - A native id: the MQTT 5 user property `message-id`, where the sender sets one.
 * - The reply: to the message's MQTT 5 response topic with its correlation
 *   data, else to `<topic>/reply`, at QoS 1. Subscriptions are `noLocal`, so
 *   a filter that also matches reply topics does not take Claw's own replies in.
 * - Where it runs: one node per account at a time, under its lease (a client id is one session).
 */
import type { IPublishPacket, MqttClient } from "mqtt";
import { z } from "zod";
import { defineAdapter } from "../define-adapter.js";
import { EVERY_MEDIUM } from "../fit-reply.js";
import { replyPayload } from "../native-payload.js";
import { RefusedSendError, type AdapterHost, type ChannelConnection, type NativeMessage } from "../types.js";

export const MqttOptionsSchema = z
  .object({
    type: z.literal("mqtt"),
    account: z.string().min(1).max(128),
    /** `mqtt://host:1883`, `mqtts://…`, `ws://…` */
    url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, "must be an mqtt://, mqtts://, ws:// or wss:// URL"),
    subscribe: z.array(z.string().min(1).max(1024)).min(1, "subscribe to at least one topic filter"),
    /** the persistent session's client id (default `claw-<account>`) */
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    /** how long the broker keeps the session (and its queued messages) while no node is connected */
    sessionExpirySeconds: z
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .default(7 * 24 * 3600),
  })
  .strict();

export type MqttOptions = z.infer<typeof MqttOptionsSchema>;

/** What Claw keeps of an MQTT message, and where its reply goes. */
function nativeOf(topic: string, payload: Buffer, packet: IPublishPacket): NativeMessage {
  const props = packet.properties;
  const routing: Record<string, unknown> = {};
  if (props?.responseTopic) routing.responseTopic = props.responseTopic;
  if (props?.correlationData) routing.correlationData = Buffer.from(props.correlationData).toString("base64");
  const userId = props?.userProperties?.["message-id"];
  const id = Array.isArray(userId) ? userId[0] : userId;
  return {
    chat: topic,
    data: payload,
    id,
    metadata: { topic, qos: packet.qos, ...(packet.retain ? { retain: true } : {}), ...(id ? { messageId: id } : {}) },
    routing: Object.keys(routing).length > 0 ? routing : undefined,
  };
}

/** Turns Nagle's algorithm off on a TCP (or TLS) connection. */
export function noDelay(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (on: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

async function connect(o: MqttOptions, host: AdapterHost): Promise<ChannelConnection> {
  const mqtt = await import("mqtt");
  let closing = false;
  let lastError: string | undefined;
  let lose!: (e: Error) => void;
  const lost = new Promise<Error>((r) => (lose = r));
  // allowRetries false: a refused connection rejects (by default connectAsync waits for mqtt.js' own reconnects)
  const client: MqttClient = await mqtt.connectAsync(
    o.url,
    {
      protocolVersion: 5,
      clean: false,
      clientId: o.clientId ?? `claw-${o.account}`,
      username: o.username,
      password: o.password,
      // the runner reconnects, with its backoff and its lifecycle in the live view
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      properties: { sessionExpiryInterval: o.sessionExpirySeconds },
      // QoS 1 and 2: acknowledged only once Claw holds the message; until then the broker keeps it
      customHandleAcks: (topic, payload, packet, done) => {
        host.receive(nativeOf(topic, payload, packet as IPublishPacket)).then(
          () => done(0),
          (e: unknown) => done(e as Error),
        );
      },
    },
    false,
  );
  // mqtt.js leaves Nagle's algorithm on: each PUBACK and reply would wait for the broker's delayed ACK (~20 ms each way)
  noDelay(client);
  client.on("connect", () => noDelay(client));
  client.on("error", (e) => {
    lastError = e.message;
  });
  // publishes waiting for their PUBACK: mqtt.js keeps them for a reconnect of its own, which never comes (the runner reconnects)
  const inflight = new Set<(e: Error) => void>();
  client.on("close", () => {
    const why = new Error(lastError ? `the MQTT connection closed: ${lastError}` : "the MQTT connection closed");
    for (const reject of inflight) reject(why);
    inflight.clear();
    if (!closing) lose(why);
  });
  // QoS 0 has no acknowledgement to hold back: taken as it comes
  client.on("message", (topic, payload, packet) => {
    if (packet.qos === 0) void host.receive(nativeOf(topic, payload, packet)).catch(() => undefined);
  });
  try {
    const granted = await client.subscribeAsync(Object.fromEntries(o.subscribe.map((topic) => [topic, { qos: 1 as const, nl: true }])));
    const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    if (refused.length > 0) throw new Error(`the broker refused the subscription to ${refused.join(", ")}`);
  } catch (e) {
    closing = true;
    await client.endAsync(true).catch(() => undefined);
    throw e;
  }
  return {
    lost,
    async send({ envelope, routing }) {
      const topic = typeof routing?.responseTopic === "string" ? routing.responseTopic : `${envelope.chat}/reply`;
      if (/[+#]/.test(topic) || topic === "")
        throw new RefusedSendError(`the reply topic ${JSON.stringify(topic)} is not a topic one can publish to`, "invalid_topic");
      const correlationData = typeof routing?.correlationData === "string" ? Buffer.from(routing.correlationData, "base64") : undefined;
      // mqtt.js would queue a publish on a lost connection and wait for a reconnect that never comes (the runner reconnects)
      if (!client.connected) throw new Error("the MQTT connection is not up");
      try {
        await new Promise<void>((resolve, reject) => {
          inflight.add(reject);
          client
            .publishAsync(topic, replyPayload(envelope), {
              qos: 1,
              properties: { contentType: "application/json", userProperties: { "message-id": envelope.id }, ...(correlationData ? { correlationData } : {}) },
            })
            .then(
              () => resolve(),
              (e: unknown) => reject(e as Error),
            )
            .finally(() => inflight.delete(reject));
        });
      } catch (e) {
        // a PUBACK with a failure reason code: the broker refuses this reply (not authorised, too large, …)
        const code = (e as { code?: unknown }).code;
        if (typeof code === "number" && code >= 0x80)
          throw new RefusedSendError(`the broker refused the reply on ${topic}: ${(e as Error).message} (reason code ${code})`, "refused");
        throw e;
      }
    },
    async close() {
      closing = true;
      // what was not PUBACKed stays in the session, for the next connection
      await client.endAsync(true).catch(() => undefined);
    },
  };
}

/** The MQTT channel type. */
export const mqttAdapter = defineAdapter({
  type: "mqtt",
  options: MqttOptionsSchema,
  // the reply's JSON carries its media as they are (references)
  capabilities: { threads: false, edits: false, media: EVERY_MEDIUM },
  connect: (o, host) => connect(o, host),
});
