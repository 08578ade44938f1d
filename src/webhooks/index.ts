/**
 * Webhooks out: subscriptions in KV, events fanned out to deliveries on a
 * durable stream, each POSTed signed, retried, and dead-lettered at last.
 */
export {
  CreateWebhookSchema,
  publicView,
  webhookSubscriptions,
  WEBHOOK_EVENTS,
  type WebhookEvent,
  type WebhookSubscription,
  type WebhookSubscriptions,
} from "./subscriptions.js";
export { signWebhook, verifyWebhook, WEBHOOK_HEADERS } from "./signing.js";
export { startWebhooks, type WebhookWorkerOptions } from "./worker.js";
export { checkWebhookUrl, postDelivery, WebhookUrlError, type WebhookEgress } from "./delivery-target.js";
