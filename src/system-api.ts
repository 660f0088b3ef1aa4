/**
 * @module
 * `bigmachine/system`: what a System author needs, beyond the driver's API in `bigmachine`.
 *
 * A System (see {@link System}) starts machines and carries calls to them. To write one:
 *
 * - **Machines.** `start(n)` launches `n` machines and returns a {@link Machine} for each (`new
 *   Machine({ addr, maxprocs, exited })`); the session connects, installs and keeps them alive.
 * - **Serving a machine.** In a machine process `start()` builds the machine's endpoint (its supervisor
 *   and services behind the session secret, {@link createMachineEndpoint}) and calls `main(endpoint)`,
 *   which serves it where the driver can reach it: over HTTP and WebSocket tunnels with {@link listen},
 *   or over in-memory links with `endpoint.accept(link)`.
 * - **Reaching machines.** `httpClient().connect(addr)` returns a {@link Link} carrying the RPC frames:
 *   {@link connectWebSocket} for a WebSocket tunnel, {@link linkPair} in memory, {@link ResumableLink}
 *   for a link that outlives its connections, {@link streamLink} for one carried by a call's streams.
 *   Every request and tunnel carries the session secret in {@link SECRET_HEADER}.
 * - **The secret.** A machine process gets the session secret from its driver over IPC
 *   ({@link offerSessionSecret} in the driver, {@link requestSessionSecret} in the machine), never
 *   through its environment.
 * - **Choosing it by name.** {@link registerSystem} makes it available to `start({ system: name })`,
 *   `--bigmachine-system` and `BIGMACHINE_SYSTEM`, in the driver and in the machines it starts.
 *
 * Errors are {@link BigmachineError}s; {@link errorToWire} and {@link errorFromWire} carry them across
 * processes, and {@link HTTP_STATUS_OF_KIND} maps kinds to HTTP statuses.
 */
export type { System, SessionInfo, HttpClient, Listener, LogLine, KeepaliveConfig, RpcEndpoint } from "./system.ts";
export { SECRET_HEADER, MACHINE_ENV, KEEPALIVE_ENV, keepaliveEnvOf, keepaliveFromEnv } from "./system.ts";
export { registerSystem, type SystemFactory } from "./start.ts";
export { Machine, type MachineOptions, type MachineState } from "./machine.ts";
export { createMachineEndpoint, secretAuthorizer, type MachineEndpoint, type MachineEndpointOptions } from "./machine-endpoint.ts";
export { SUPERVISOR, type MachineInfo, type KeepaliveReply } from "./supervisor.ts";
export { offerSessionSecret, requestSessionSecret, type SecretRecipient, type SecretRequester } from "./session-secret.ts";
export { ServiceTable } from "./services.ts";
export {
  BigmachineError,
  errorOf,
  isKind,
  isTemporary,
  isFatal,
  toBigmachineError,
  errorToWire,
  errorFromWire,
  remoteError,
  HTTP_STATUS_OF_KIND,
  type BigmachineErrorOptions,
  type ErrorKind,
  type Severity,
  type WireError,
  type WireErrorOptions,
} from "./errors.ts";
export * from "./rpc/index.ts";
