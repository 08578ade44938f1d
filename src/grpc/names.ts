/**
 * The gRPC ingress's names, in a module of their own: the node reads them at
 * start, and grpc-js's modules (claw-service.ts and what it imports) load only
 * on the first gRPC connection (server.ts).
 */
import { fileURLToPath } from "node:url";

/** Where the service's definition ships: `proto/claw/v1/claw.proto` in the repository and the image. */
export const CLAW_PROTO = fileURLToPath(new URL("../../proto/claw/v1/claw.proto", import.meta.url));
/** The service's full name (and the health service's name for it). */
export const CLAW_SERVICE = "claw.v1.Claw";
/** The channel and sender a gRPC caller's messages have unless it names them. */
export const GRPC_CHANNEL = "grpc";
