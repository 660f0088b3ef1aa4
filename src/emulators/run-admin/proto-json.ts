/**
 * @module
 * Proto3 JSON as Google's REST front end reads and writes it, driven by the descriptors in
 * {@link ProtoSchema}: unknown fields are rejected ("Invalid JSON payload received. Unknown name …"),
 * values must fit their field's type, both `camelCase` and `snake_case` field names are accepted, and
 * enums are taken as names or numbers.
 *
 * Parsing yields the *canonical* form the emulator stores and hands to the serving plane: enums as
 * names, 64-bit integers as decimal strings, durations and timestamps normalized, and fields at their
 * default value left out (as proto3 serializes them), except oneof members and `optional` fields.
 * Rendering turns the canonical form into a reply, with enums as numbers when the caller asked for
 * `$alt=json;enum-encoding=int`.
 */
import { invalidField } from "./api-error.ts";
import type { FieldDescriptor, MessageDescriptor, ProtoSchema } from "./proto-schema.ts";

/** A message in canonical JSON form. */
export type JsonObject = Record<string, unknown>;

/** How a reply is rendered. */
export interface RenderOptions {
  /** Enums as numbers (`$alt=json;enum-encoding=int`) rather than names. */
  numericEnums: boolean;
}

const TYPE_URL_PREFIX = "type.googleapis.com/";
const INT32_RANGE = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const UINT32_RANGE = { min: 0n, max: 2n ** 32n - 1n };
const INT64_RANGE = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const UINT64_RANGE = { min: 0n, max: 2n ** 64n - 1n };
const DURATION_PATTERN = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
const MAX_DURATION_SECONDS = 315_576_000_000n;
const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Appends a field to an error path: `service` + `template` → `service.template`. */
function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads proto3 JSON against a schema; see the module comment. */
export class ProtoJson {
  constructor(readonly schema: ProtoSchema) {}

  /**
   * Parses `json` as a message of type `typeName` into canonical form. `path` names the message in
   * error messages (`service`, or `""` for a whole request body). Throws an INVALID_ARGUMENT
   * {@link ApiError} on the first problem.
   */
  parseMessage(typeName: string, json: unknown, path: string): JsonObject {
    const special = this.#parseWellKnown(typeName, json, path);
    if (special !== undefined) return special as JsonObject;
    if (!isPlainObject(json)) throw this.#invalidValue(path, `${TYPE_URL_PREFIX}${typeName}`, json);
    const message = this.schema.message(typeName);
    const result: JsonObject = {};
    for (const [key, value] of Object.entries(json)) {
      const field = message.fields.get(key) ?? message.fieldsByProtoName.get(key);
      if (!field) {
        const where = path ? ` at '${path}'` : "";
        throw invalidField(path, `Invalid JSON payload received. Unknown name "${key}"${where}: Cannot find field.`);
      }
      if (value === null) continue; // proto3 JSON: null means the default
      const parsed = this.#parseField(field, value, join(path, field.protoName));
      if (parsed !== undefined) result[field.jsonName] = parsed;
    }
    return result;
  }

  /**
   * Parses one field's value given as text (a query parameter) into canonical form; `undefined` when it
   * is the field's default. Booleans are `true`/`false`; everything else is read as in JSON.
   */
  parseFieldText(field: FieldDescriptor, text: string, path: string): unknown {
    if (field.kind === "bool") {
      if (text !== "true" && text !== "false") throw this.#invalidValue(path, "TYPE_BOOL", text);
      return this.#dropDefault(field, text === "true");
    }
    if (field.kind === "enum" && /^-?\d+$/.test(text)) return this.#parseSingle(field, Number(text), path);
    return this.#parseSingle(field, text, path);
  }

  /** Renders a canonical message of type `typeName` for a reply. */
  render(typeName: string, value: JsonObject, options: RenderOptions): JsonObject {
    if (typeName === "google.protobuf.Any") return this.#renderAny(value, options);
    if (this.#isWellKnownScalar(typeName)) return value;
    const message = this.schema.message(typeName);
    for (const key of Object.keys(value)) {
      if (!message.fields.has(key)) throw new Error(`internal: ${typeName} has no field ${key}`);
    }
    // Fields in declaration order, as Google's serializer writes them.
    const result: JsonObject = {};
    for (const [key, field] of message.fields) {
      if (value[key] !== undefined) result[key] = this.#renderField(field, value[key], options);
    }
    return result;
  }

  /** A copy of canonical `value` without the fields marked `OUTPUT_ONLY`, at any depth. */
  withoutOutputOnly(typeName: string, value: JsonObject): JsonObject {
    if (typeName === "google.protobuf.Any" || this.#isWellKnownScalar(typeName)) return value;
    const message = this.schema.message(typeName);
    const result: JsonObject = {};
    for (const [key, fieldValue] of Object.entries(value)) {
      const field = message.fields.get(key);
      if (!field || field.outputOnly) continue;
      if (field.kind !== "message" || field.mapKey !== undefined) result[key] = fieldValue;
      else if (field.repeated) result[key] = (fieldValue as JsonObject[]).map((item) => this.withoutOutputOnly(field.typeName!, item));
      else result[key] = this.withoutOutputOnly(field.typeName!, fieldValue as JsonObject);
    }
    return result;
  }

  #parseField(field: FieldDescriptor, value: unknown, path: string): unknown {
    if (field.mapKey !== undefined) {
      if (!isPlainObject(value)) throw this.#invalidValue(path, this.#typeLabel(field), value);
      const entries = Object.entries(value).filter(([, entry]) => entry !== null);
      if (entries.length === 0) return undefined;
      // Map values keep their defaults: an empty string label value is a real entry.
      return Object.fromEntries(
        entries.map(([key, entry]) => [key, this.#parseSingle({ ...field, tracksPresence: true }, entry, `${path}[${JSON.stringify(key)}]`)]),
      );
    }
    if (field.repeated) {
      if (!Array.isArray(value)) throw this.#invalidValue(path, this.#typeLabel(field), value);
      if (value.length === 0) return undefined;
      const element = { ...field, tracksPresence: true };
      return value.map((item, index) => {
        if (item === null) throw this.#invalidValue(`${path}[${index}]`, this.#typeLabel(field), item);
        return this.#parseSingle(element, item, `${path}[${index}]`);
      });
    }
    return this.#parseSingle(field, value, path);
  }

  #parseSingle(field: FieldDescriptor, value: unknown, path: string): unknown {
    switch (field.kind) {
      case "message":
        return this.parseMessage(field.typeName!, value, path);
      case "enum":
        return this.#dropDefault(field, this.#parseEnum(field, value, path));
      case "string":
        if (typeof value !== "string") throw this.#invalidValue(path, "TYPE_STRING", value);
        return this.#dropDefault(field, value);
      case "bool":
        if (typeof value !== "boolean") throw this.#invalidValue(path, "TYPE_BOOL", value);
        return this.#dropDefault(field, value);
      case "bytes":
        if (typeof value !== "string" || !BASE64_PATTERN.test(value)) throw this.#invalidValue(path, "TYPE_BYTES", value);
        return this.#dropDefault(field, Buffer.from(value, "base64").toString("base64"));
      case "int32":
      case "uint32": {
        const parsed = this.#parseInteger(value, field.kind === "int32" ? INT32_RANGE : UINT32_RANGE);
        if (parsed === undefined) throw this.#invalidValue(path, `TYPE_${field.kind.toUpperCase()}`, value);
        return this.#dropDefault(field, Number(parsed));
      }
      case "int64":
      case "uint64": {
        const parsed = this.#parseInteger(value, field.kind === "int64" ? INT64_RANGE : UINT64_RANGE);
        if (parsed === undefined) throw this.#invalidValue(path, `TYPE_${field.kind.toUpperCase()}`, value);
        return this.#dropDefault(field, parsed.toString());
      }
      case "double":
      case "float": {
        const parsed = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
        const special = value === "NaN" || value === "Infinity" || value === "-Infinity";
        if (Number.isNaN(parsed) && !special) throw this.#invalidValue(path, `TYPE_${field.kind.toUpperCase()}`, value);
        return this.#dropDefault(field, special ? value : parsed);
      }
    }
  }

  #parseEnum(field: FieldDescriptor, value: unknown, path: string): string {
    const descriptor = this.schema.enum(field.typeName!);
    const name =
      typeof value === "string" ? (descriptor.numberOf.has(value) ? value : undefined)
      : typeof value === "number" && Number.isInteger(value) ? descriptor.nameOf.get(value)
      : undefined;
    if (name === undefined) throw this.#invalidValue(path, `${TYPE_URL_PREFIX}${field.typeName}`, value);
    return name;
  }

  #parseInteger(value: unknown, range: { min: bigint; max: bigint }): bigint | undefined {
    let parsed: bigint;
    if (typeof value === "number" && Number.isInteger(value)) parsed = BigInt(value);
    else if (typeof value === "string" && /^-?\d+$/.test(value)) parsed = BigInt(value);
    else return undefined;
    return parsed >= range.min && parsed <= range.max ? parsed : undefined;
  }

  /** Drops a value equal to its type's default unless the field tracks presence. */
  #dropDefault(field: FieldDescriptor, value: unknown): unknown {
    if (field.tracksPresence) return value;
    if (field.kind === "enum") return this.schema.enum(field.typeName!).numberOf.get(value as string) === 0 ? undefined : value;
    const isDefault = value === "" || value === false || value === 0 || value === "0";
    return isDefault ? undefined : value;
  }

  /** Types whose JSON form is not an object of fields; `undefined` when `typeName` is not one. */
  #parseWellKnown(typeName: string, json: unknown, path: string): unknown {
    switch (typeName) {
      case "google.protobuf.Duration":
        return this.#parseDuration(json, path);
      case "google.protobuf.Timestamp":
        return this.#parseTimestamp(json, path);
      case "google.protobuf.FieldMask":
        if (typeof json !== "string" || !/^[A-Za-z0-9_.,]*$/.test(json)) throw this.#invalidValue(path, TYPE_URL_PREFIX + typeName, json);
        return json;
      case "google.protobuf.Any":
        return this.#parseAny(json, path);
      default:
        return undefined;
    }
  }

  #isWellKnownScalar(typeName: string): boolean {
    return typeName === "google.protobuf.Duration" || typeName === "google.protobuf.Timestamp" || typeName === "google.protobuf.FieldMask";
  }

  #parseDuration(json: unknown, path: string): string {
    const match = typeof json === "string" ? DURATION_PATTERN.exec(json) : null;
    if (!match || BigInt(match[2]!) > MAX_DURATION_SECONDS) {
      throw this.#invalidValue(path, `${TYPE_URL_PREFIX}google.protobuf.Duration`, json);
    }
    const [, sign = "", seconds, fraction = ""] = match;
    return formatDuration(`${sign}${BigInt(seconds!)}`, fraction);
  }

  #parseTimestamp(json: unknown, path: string): string {
    const match = typeof json === "string" ? TIMESTAMP_PATTERN.exec(json) : null;
    const millis = match ? Date.parse(json as string) : NaN;
    if (!match || Number.isNaN(millis)) throw this.#invalidValue(path, `${TYPE_URL_PREFIX}google.protobuf.Timestamp`, json);
    const whole = new Date(Math.floor(millis / 1000) * 1000).toISOString().replace(".000Z", "");
    const fraction = (match[1] ?? "").slice(1).replace(/0+$/, "");
    return `${whole}${fraction ? `.${fraction}` : ""}Z`;
  }

  #parseAny(json: unknown, path: string): JsonObject {
    if (!isPlainObject(json)) throw this.#invalidValue(path, `${TYPE_URL_PREFIX}google.protobuf.Any`, json);
    const typeUrl = json["@type"];
    const typeName = typeof typeUrl === "string" ? typeUrl.slice(typeUrl.lastIndexOf("/") + 1) : "";
    if (!typeName || !this.schema.hasMessage(typeName)) {
      throw invalidField(path, `Invalid JSON payload received. Unknown type ${JSON.stringify(typeUrl)} at '${path}'.`);
    }
    const { "@type": _, ...fields } = json;
    return { "@type": `${TYPE_URL_PREFIX}${typeName}`, ...this.parseMessage(typeName, fields, path) };
  }

  #renderField(field: FieldDescriptor, value: unknown, options: RenderOptions): unknown {
    const one = (item: unknown) => this.#renderSingle(field, item, options);
    if (field.mapKey !== undefined) {
      return Object.fromEntries(Object.entries(value as JsonObject).map(([key, item]) => [key, one(item)]));
    }
    return field.repeated ? (value as unknown[]).map(one) : one(value);
  }

  #renderSingle(field: FieldDescriptor, value: unknown, options: RenderOptions): unknown {
    if (field.kind === "enum" && options.numericEnums) return this.schema.enum(field.typeName!).numberOf.get(value as string);
    if (field.kind === "message") return this.render(field.typeName!, value as JsonObject, options);
    return value;
  }

  #renderAny(value: JsonObject, options: RenderOptions): JsonObject {
    const { "@type": typeUrl, ...fields } = value;
    const typeName = String(typeUrl).slice(String(typeUrl).lastIndexOf("/") + 1);
    return { "@type": typeUrl, ...this.render(typeName, fields, options) };
  }

  #typeLabel(field: FieldDescriptor): string {
    return field.typeName ? `${TYPE_URL_PREFIX}${field.typeName}` : `TYPE_${field.kind.toUpperCase()}`;
  }

  #invalidValue(path: string, typeLabel: string, value: unknown) {
    const shown = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
    return invalidField(path, `Invalid value at '${path}' (${typeLabel}), ${shown}`);
  }
}

/** `"300", ""` → `"300s"`; `"1", "5"` → `"1.500s"`: whole seconds, else 3, 6 or 9 fraction digits. */
function formatDuration(seconds: string, fraction: string): string {
  const nanos = fraction.padEnd(9, "0");
  if (/^0+$/.test(nanos)) return `${seconds === "-0" ? "0" : seconds}s`;
  const digits = nanos.endsWith("000000") ? 3 : nanos.endsWith("000") ? 6 : 9;
  return `${seconds}.${nanos.slice(0, digits)}s`;
}

/** Seconds in a canonical Duration string (`"300s"` → 300). */
export function durationSeconds(duration: string): number {
  return Number(duration.slice(0, -1));
}

/** A message descriptor's field by JSON or proto name, or `undefined`. */
export function fieldNamed(message: MessageDescriptor, name: string): FieldDescriptor | undefined {
  return message.fields.get(name) ?? message.fieldsByProtoName.get(name);
}
