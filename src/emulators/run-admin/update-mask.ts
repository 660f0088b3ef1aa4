/**
 * @module
 * Field masks on update (`updateMask=template,labels`): each listed path of the stored Service is
 * replaced by the request's value there (or cleared if the request has none); `*` replaces everything.
 * Paths may be written in camelCase or snake_case and must name fields of the Service.
 */
import { invalidField } from "./api-error.ts";
import { fieldNamed } from "./proto-json.ts";
import { TYPES, type ProtoSchema } from "./proto-schema.ts";

type Json = Record<string, any>;

/** `current` with the paths in `mask` (comma-separated) taken from `requested`; neither is modified. */
export function applyUpdateMask(schema: ProtoSchema, current: Json, requested: Json, mask: string): Json {
  const paths = mask.split(",").map((path) => path.trim()).filter(Boolean);
  if (paths.includes("*")) return structuredClone(requested);
  const result = structuredClone(current);
  for (const path of paths) {
    const names = resolvePath(schema, path);
    let target = result;
    let source: Json | undefined = requested;
    for (const name of names.slice(0, -1)) {
      target = target[name] ??= {};
      source = source?.[name];
    }
    const last = names.at(-1)!;
    if (source?.[last] === undefined) delete target[last];
    else target[last] = structuredClone(source[last]);
  }
  return result;
}

/** The JSON names along `path`; throws INVALID_ARGUMENT unless it names a Service field. */
function resolvePath(schema: ProtoSchema, path: string): string[] {
  const invalid = () => invalidField("update_mask", `Invalid update mask path "${path}": it does not name a field of Service.`);
  let message = schema.message(TYPES.service);
  const names: string[] = [];
  const segments = path.split(".");
  for (const [index, segment] of segments.entries()) {
    const field = fieldNamed(message, segment);
    if (!field) throw invalid();
    names.push(field.jsonName);
    if (index < segments.length - 1) {
      if (field.kind !== "message" || field.repeated || field.mapKey !== undefined) throw invalid();
      message = schema.message(field.typeName!);
    }
  }
  return names;
}
