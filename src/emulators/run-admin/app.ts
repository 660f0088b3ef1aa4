/**
 * @module
 * The REST surface of the Admin API v2 emulator: Google's URL paths (including custom verbs such as
 * `services/S:setIamPolicy` and `operations/O:wait`) mapped to the services, operations and IAM
 * policies the emulator keeps. Unknown paths get a JSON 404; every failure is in Google's error format.
 */
import { Hono } from "hono";
import { ApiError } from "./api-error.ts";
import { Exchange } from "./http-exchange.ts";
import type { IamPolicies } from "./iam-policies.ts";
import { durationSeconds, type JsonObject, type ProtoJson } from "./proto-json.ts";
import { TYPES } from "./proto-schema.ts";
import type { OperationStore } from "./operations.ts";
import type { LocationName } from "./resource-names.ts";
import type { ServiceManager } from "./service-manager.ts";

/** What the routes act on. */
export interface AdminBackend {
  readonly json: ProtoJson;
  readonly services: ServiceManager;
  readonly operations: OperationStore;
  readonly iam: IamPolicies;
  /** The email a request's `Authorization` header speaks for. */
  callerOf(authorization: string | undefined): string;
  /** Whether the emulator is closing (requests then get UNAVAILABLE). */
  readonly closed: boolean;
}

/** Longest `operations/O:wait` blocks, and how long when the request names no timeout. */
const MAX_WAIT_SECONDS = 60;
const DEFAULT_WAIT_SECONDS = 30;

type Handler = (exchange: Exchange, target: Target, backend: AdminBackend) => Promise<Response> | Response;

/** The resource a request addresses. */
interface Target {
  location: LocationName;
  /** Full resource name (`projects/P/locations/L/services/S`), or the collection's parent. */
  name: string;
}

interface Route {
  method: string;
  collection: "services" | "operations";
  /** Whether the path names one member (`…/services/S`) rather than the collection. */
  member: boolean;
  verb?: string;
  handle: Handler;
}

const ROUTES: Route[] = [
  { method: "POST", collection: "services", member: false, handle: createService },
  { method: "GET", collection: "services", member: false, handle: listServices },
  { method: "GET", collection: "services", member: true, handle: getService },
  { method: "PATCH", collection: "services", member: true, handle: updateService },
  { method: "DELETE", collection: "services", member: true, handle: deleteService },
  { method: "GET", collection: "services", member: true, verb: "getIamPolicy", handle: getIamPolicy },
  { method: "POST", collection: "services", member: true, verb: "getIamPolicy", handle: getIamPolicy },
  { method: "POST", collection: "services", member: true, verb: "setIamPolicy", handle: setIamPolicy },
  { method: "POST", collection: "services", member: true, verb: "testIamPermissions", handle: testIamPermissions },
  { method: "GET", collection: "operations", member: false, handle: listOperations },
  { method: "GET", collection: "operations", member: true, handle: getOperation },
  { method: "DELETE", collection: "operations", member: true, handle: deleteOperation },
  { method: "POST", collection: "operations", member: true, verb: "wait", handle: waitOperation },
];

const PATH = /^projects\/([^/]+)\/locations\/([^/]+)\/(services|operations)(?:\/([^/]+))?$/;

/** The hono app serving `backend` under `/v2/`. */
export function createAdminApp(backend: AdminBackend): Hono {
  const app = new Hono();
  app.all("*", async (c) => {
    const exchange = new Exchange(backend.json, c);
    try {
      if (backend.closed) throw new ApiError("UNAVAILABLE", "The Cloud Run Admin API emulator is shutting down.");
      const found = route(c.req.method, c.req.path);
      if (!found) throw new ApiError("NOT_FOUND", `The requested URL ${c.req.path} was not found on this server.`);
      return await found.route.handle(exchange, found.target, backend);
    } catch (error) {
      return exchange.fail(error);
    }
  });
  return app;
}

function route(method: string, rawPath: string): { route: Route; target: Target } | undefined {
  if (!rawPath.startsWith("/v2/")) return undefined;
  let path: string;
  try {
    path = rawPath.slice(4).split("/").map(decodeURIComponent).join("/");
  } catch {
    return undefined;
  }
  const colon = path.lastIndexOf(":");
  const verb = colon > path.lastIndexOf("/") ? path.slice(colon + 1) : undefined;
  const match = PATH.exec(verb === undefined ? path : path.slice(0, colon));
  if (!match) return undefined;
  const [, project, location, collection, member] = match;
  const found = ROUTES.find(
    (candidate) =>
      candidate.method === method && candidate.collection === collection && candidate.member === (member !== undefined) && candidate.verb === verb,
  );
  if (!found) return undefined;
  const parent = `projects/${project}/locations/${location}`;
  return {
    route: found,
    target: { location: { project: project!, location: location! }, name: member ? `${parent}/${collection}/${member}` : parent },
  };
}

async function createService(exchange: Exchange, target: Target, backend: AdminBackend): Promise<Response> {
  const params = exchange.params(TYPES.createServiceRequest, ["parent", "service"]);
  const service = exchange.json.parseMessage(TYPES.service, await exchange.body(), "service");
  const operation = backend.services.create(target.location, params.serviceId, service, {
    validateOnly: params.validateOnly,
    caller: backend.callerOf(exchange.authorization),
  });
  return exchange.reply(TYPES.operation, operation);
}

function listServices(exchange: Exchange, target: Target, backend: AdminBackend): Response {
  const params = exchange.params(TYPES.listServicesRequest, ["parent"]);
  const page = backend.services.records.list(target.location, params);
  const reply: JsonObject = {};
  if (page.items.length > 0) reply.services = page.items.map((record) => record.service);
  if (page.nextPageToken) reply.nextPageToken = page.nextPageToken;
  return exchange.reply(TYPES.listServicesResponse, reply);
}

function getService(exchange: Exchange, target: Target, backend: AdminBackend): Response {
  exchange.params(TYPES.getServiceRequest, ["name"]);
  return exchange.reply(TYPES.service, backend.services.records.get(target.name).service);
}

async function updateService(exchange: Exchange, target: Target, backend: AdminBackend): Promise<Response> {
  const params = exchange.params(TYPES.updateServiceRequest, ["service"]);
  const service = exchange.json.parseMessage(TYPES.service, await exchange.body(), "service");
  const operation = backend.services.update(target.name, { ...service, name: target.name }, {
    validateOnly: params.validateOnly,
    allowMissing: params.allowMissing,
    updateMask: params.updateMask,
    caller: backend.callerOf(exchange.authorization),
  });
  return exchange.reply(TYPES.operation, operation);
}

function deleteService(exchange: Exchange, target: Target, backend: AdminBackend): Response {
  const params = exchange.params(TYPES.deleteServiceRequest, ["name"]);
  const operation = backend.services.delete(target.name, {
    validateOnly: params.validateOnly,
    etag: params.etag,
    caller: backend.callerOf(exchange.authorization),
  });
  return exchange.reply(TYPES.operation, operation);
}

async function getIamPolicy(exchange: Exchange, target: Target, backend: AdminBackend): Promise<Response> {
  const request =
    exchange.context.req.method === "GET"
      ? exchange.params(TYPES.getIamPolicyRequest, ["resource"])
      : await exchange.bodyMessage(TYPES.getIamPolicyRequest, "resource");
  backend.services.records.get(target.name);
  const policy = backend.iam.get(target.name, request.options?.requestedPolicyVersion ?? 0);
  return exchange.reply(TYPES.policy, policy);
}

async function setIamPolicy(exchange: Exchange, target: Target, backend: AdminBackend): Promise<Response> {
  const request = await exchange.bodyMessage(TYPES.setIamPolicyRequest, "resource");
  backend.services.records.get(target.name);
  if (!request.policy) throw new ApiError("INVALID_ARGUMENT", "Violation in SetIamPolicyRequest.policy: required field not present.");
  const policy = backend.iam.set(target.name, request.policy);
  return exchange.reply(TYPES.policy, policy);
}

async function testIamPermissions(exchange: Exchange, target: Target, backend: AdminBackend): Promise<Response> {
  const request = await exchange.bodyMessage(TYPES.testIamPermissionsRequest, "resource");
  backend.services.records.get(target.name);
  const granted = backend.iam.test(request.permissions ?? []);
  return exchange.reply(TYPES.testIamPermissionsResponse, granted.length > 0 ? { permissions: granted } : {});
}

function listOperations(exchange: Exchange, target: Target, backend: AdminBackend): Response {
  const params = exchange.params(TYPES.listOperationsRequest, ["name"]);
  const page = backend.operations.list(target.location, params);
  const reply: JsonObject = {};
  if (page.items.length > 0) reply.operations = page.items;
  if (page.nextPageToken) reply.nextPageToken = page.nextPageToken;
  return exchange.reply(TYPES.listOperationsResponse, reply);
}

function getOperation(exchange: Exchange, target: Target, backend: AdminBackend): Response {
  exchange.params(TYPES.getOperationRequest, ["name"]);
  return exchange.reply(TYPES.operation, backend.operations.get(target.name));
}

function deleteOperation(exchange: Exchange, target: Target, backend: AdminBackend): Response {
  exchange.params(TYPES.deleteOperationRequest, ["name"]);
  backend.operations.delete(target.name);
  return exchange.reply(TYPES.empty, {});
}

async function waitOperation(exchange: Exchange, target: Target, backend: AdminBackend): Promise<Response> {
  const request = await exchange.bodyMessage(TYPES.waitOperationRequest, "name");
  const seconds = Math.min(request.timeout ? durationSeconds(request.timeout) : DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS);
  const operation = await backend.operations.wait(target.name, Math.max(0, seconds) * 1000);
  return exchange.reply(TYPES.operation, operation);
}
