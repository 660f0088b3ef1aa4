/**
 * @module
 * Query strings as Google's REST front end binds them: each parameter names a field of the request
 * message (dotted for nested fields, e.g. `options.requestedPolicyVersion`), fields already bound by
 * the URL path or the body cannot be given again, system parameters (`$alt`, `prettyPrint`, `key`, …)
 * are always allowed, and anything else is rejected.
 */
import { invalidField } from "./api-error.ts";
import { fieldNamed, type JsonObject, type ProtoJson } from "./proto-json.ts";

/** Parameters every Google API accepts, which are not fields of any request message. */
const SYSTEM_PARAMETERS = new Set([
  "$alt", "alt", "$prettyPrint", "prettyPrint", "$fields", "fields", "key", "access_token", "oauth_token",
  "quotaUser", "userIp", "$.xgafv", "$callback", "callback", "upload_protocol", "uploadType",
]);

/** What the system parameters ask of the reply. */
export interface ReplyFormat {
  /** `$alt=json;enum-encoding=int`: enums as numbers. */
  numericEnums: boolean;
  /** `$prettyPrint=0` (or `false`) turns off the default indented JSON. */
  pretty: boolean;
}

/** Reads the reply format from the system parameters. */
export function replyFormat(query: URLSearchParams): ReplyFormat {
  const alt = query.get("$alt") ?? query.get("alt") ?? "json";
  const prettyPrint = query.get("$prettyPrint") ?? query.get("prettyPrint");
  return {
    numericEnums: alt.split(";").some((part) => part.trim() === "enum-encoding=int"),
    pretty: prettyPrint !== "0" && prettyPrint !== "false",
  };
}

/**
 * Binds the query parameters to fields of `requestType` and returns them as a canonical (partial)
 * request message. `bound` lists the top-level fields the path or body already set.
 */
export function bindQuery(
  json: ProtoJson,
  requestType: string,
  query: URLSearchParams,
  bound: readonly string[] = [],
): JsonObject {
  const request: JsonObject = {};
  for (const key of new Set(query.keys())) {
    if (SYSTEM_PARAMETERS.has(key)) continue;
    const cannotBind = () =>
      invalidField(
        key,
        `Invalid JSON payload received. Unknown name "${key}": Cannot bind query parameter. Field '${key}' could not be found in request message.`,
      );
    let message = json.schema.message(requestType);
    let target = request;
    const segments = key.split(".");
    for (const [depth, segment] of segments.entries()) {
      const field = fieldNamed(message, segment);
      if (!field || (depth === 0 && bound.includes(field.jsonName))) throw cannotBind();
      const isLeaf = depth === segments.length - 1;
      const isPlainMessage = field.kind === "message" && !isTextMessage(field.typeName!);
      if (!isLeaf) {
        if (!isPlainMessage || field.repeated || field.mapKey !== undefined) throw cannotBind();
        target = (target[field.jsonName] ??= {}) as JsonObject;
        message = json.schema.message(field.typeName!);
        continue;
      }
      if (isPlainMessage || field.mapKey !== undefined) throw cannotBind();
      const values = query.getAll(key).map((text) => json.parseFieldText(field, text, key));
      const value = field.repeated ? values.filter((item) => item !== undefined) : values.at(-1);
      if (value !== undefined && !(Array.isArray(value) && value.length === 0)) target[field.jsonName] = value;
    }
  }
  return request;
}

/** Message types whose JSON (and query) form is a single string. */
function isTextMessage(typeName: string): boolean {
  return ["google.protobuf.Duration", "google.protobuf.Timestamp", "google.protobuf.FieldMask"].includes(typeName);
}
