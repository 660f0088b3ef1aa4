/**
 * @module
 * Reading an `entries:list` request: `resourceNames` (or the deprecated `projectIds`), `filter`,
 * `orderBy`, `pageSize` and `pageToken`, checked the way Google checks them.
 */
import { invalidArgument } from "./api-error.ts";

/** `pageSize` when the request leaves it out. */
export const DEFAULT_PAGE_SIZE = 50;
/** The largest page; bigger requests are refused with INVALID_ARGUMENT, as Google refuses them. */
export const MAX_PAGE_SIZE = 1000;

const FIELDS = new Set(["resourceNames", "projectIds", "filter", "orderBy", "pageSize", "pageToken"]);
const RESOURCE_NAME =
  /^(projects|organizations|folders|billingAccounts)\/([^/]+)(?:\/locations\/[^/]+\/buckets\/[^/]+\/views\/[^/]+)?$/;

/** A checked `entries:list` request. */
export interface ListRequest {
  resourceNames: string[];
  /** The parents (`projects/P`, ...) whose entries are searched. */
  parents: Set<string>;
  filter: string;
  /** Normalized: `timestamp asc` or `timestamp desc`. */
  orderBy: "timestamp asc" | "timestamp desc";
  pageSize: number;
  pageToken?: string;
}

/** Checks a request body; throws a 400 `ApiError` naming the problem. */
export function readListRequest(body: unknown): ListRequest {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw invalidArgument("Invalid JSON payload received. The request body must be a JSON object.");
  }
  const fields: Record<string, unknown> = {};
  for (const [rawName, value] of Object.entries(body)) {
    const name = rawName.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
    if (!FIELDS.has(name)) throw invalidArgument(`Invalid JSON payload received. Unknown name "${rawName}": Cannot find field.`);
    if (value !== null) fields[name] = value;
  }
  const resourceNames = [
    ...stringList(fields.resourceNames, "resourceNames"),
    ...stringList(fields.projectIds, "projectIds").map((id) => `projects/${id}`),
  ];
  if (resourceNames.length === 0) throw invalidArgument("resourceNames: at least one resource name is required");
  const parents = new Set(resourceNames.map(parentOf));
  return {
    resourceNames,
    parents,
    filter: optionalString(fields.filter, "filter") ?? "",
    orderBy: readOrderBy(optionalString(fields.orderBy, "orderBy")),
    pageSize: readPageSize(fields.pageSize),
    pageToken: optionalString(fields.pageToken, "pageToken") || undefined,
  };
}

function parentOf(resourceName: string): string {
  const match = RESOURCE_NAME.exec(resourceName);
  if (!match) {
    throw invalidArgument(
      `Invalid resource name "${resourceName}": expected projects/PROJECT_ID (or an organization, folder, billing account, or log view)`,
    );
  }
  return `${match[1]}/${match[2]}`;
}

function readOrderBy(orderBy: string | undefined): ListRequest["orderBy"] {
  const normalized = (orderBy ?? "").trim().replace(/\s+/g, " ").toLowerCase();
  if (normalized === "" || normalized === "timestamp asc" || normalized === "timestamp") return "timestamp asc";
  if (normalized === "timestamp desc") return "timestamp desc";
  throw invalidArgument(`Invalid orderBy "${orderBy}": only "timestamp asc" and "timestamp desc" are supported`);
}

function readPageSize(value: unknown): number {
  if (value === undefined) return DEFAULT_PAGE_SIZE;
  // int32 fields may arrive as JSON numbers or decimal strings.
  const size = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof size !== "number" || !Number.isInteger(size)) {
    throw invalidArgument(`Invalid JSON payload received. Invalid value at 'page_size' (TYPE_INT32), ${JSON.stringify(value)}`);
  }
  if (size < 0) throw invalidArgument(`pageSize must not be negative, got ${size}`);
  if (size > MAX_PAGE_SIZE) throw invalidArgument(`Invalid page_size ${size}: the maximum page size is ${MAX_PAGE_SIZE}`);
  if (size === 0) return DEFAULT_PAGE_SIZE;
  return size;
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw invalidArgument(`Invalid JSON payload received. Invalid value at '${field}': expected a list of strings`);
  }
  return value;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || typeof value === "string") return value;
  throw invalidArgument(`Invalid JSON payload received. Invalid value at '${field}': expected a string`);
}
