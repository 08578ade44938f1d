/**
 * The gRPC ingress: `claw.v1.Claw` beside the HTTP gateway, with its health and reflection services.
 */
export { CLAW_PROTO, CLAW_SERVICE, GrpcStartError, startGrpcServer, type GrpcServer, type GrpcServerOptions } from "./server.js";
export { GRPC_CHANNEL } from "./names.js";
