/**
 * @module
 * The message and enum definitions of the Cloud Run Admin API v2 (and the IAM, long-running operation
 * and well-known types it uses), read from the descriptor set the official `@google-cloud/run` client
 * ships. The emulator checks requests and shapes replies against the very definitions the client
 * encodes with, so field names, enum names and enum numbers cannot drift from what clients send.
 */
import { createRequire } from "node:module";

/** The scalar and composite kinds a field can have. */
export type FieldKind =
  | "string"
  | "bool"
  | "bytes"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "double"
  | "float"
  | "enum"
  | "message";

/** One field of a message. */
export interface FieldDescriptor {
  /** The JSON (lowerCamelCase) name, e.g. `maxInstanceRequestConcurrency`. */
  readonly jsonName: string;
  /** The proto (snake_case) name, e.g. `max_instance_request_concurrency`; Google's error paths use it. */
  readonly protoName: string;
  readonly kind: FieldKind;
  /** Full name (no leading dot) of the enum or message type, for those kinds. */
  readonly typeName?: string;
  readonly repeated: boolean;
  /** Set for `map<K, V>` fields: the key's scalar type; `kind`/`typeName` then describe the value. */
  readonly mapKey?: string;
  /** Whether a default value is still "set": members of a oneof and proto3 `optional` fields. */
  readonly tracksPresence: boolean;
  /** Marked `OUTPUT_ONLY`: the server sets it and ignores what requests send. */
  readonly outputOnly: boolean;
}

/** A message type. */
export interface MessageDescriptor {
  readonly fullName: string;
  /** Fields by JSON name. */
  readonly fields: ReadonlyMap<string, FieldDescriptor>;
  /** Fields by proto name, since proto3 JSON parsers accept both spellings. */
  readonly fieldsByProtoName: ReadonlyMap<string, FieldDescriptor>;
}

/** An enum type. */
export interface EnumDescriptor {
  readonly fullName: string;
  readonly numberOf: ReadonlyMap<string, number>;
  /** Value names by number; the first declared name wins for aliases. */
  readonly nameOf: ReadonlyMap<number, string>;
}

interface RawNamespace {
  nested?: Record<string, RawNamespace>;
  fields?: Record<string, RawField>;
  oneofs?: Record<string, { oneof: string[] }>;
  values?: Record<string, number>;
}

interface RawField {
  type: string;
  rule?: string;
  keyType?: string;
  options?: Record<string, unknown>;
}

const SCALAR_KINDS = new Set<string>([
  "string", "bool", "bytes", "int32", "uint32", "int64", "uint64", "double", "float",
]);
// Sized and signed variants travel in JSON exactly as their plain counterparts do.
const SCALAR_ALIASES: Record<string, FieldKind> = {
  sint32: "int32", sfixed32: "int32", fixed32: "uint32",
  sint64: "int64", sfixed64: "int64", fixed64: "uint64",
};

/** `maxInstanceRequestConcurrency` → `max_instance_request_concurrency`. */
export function protoNameOf(jsonName: string): string {
  return jsonName.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** Definitions loaded from a protobufjs JSON descriptor set, with type names resolved as protoc does. */
export class ProtoSchema {
  readonly #raw = new Map<string, RawNamespace>();
  readonly #messages = new Map<string, MessageDescriptor>();
  readonly #enums = new Map<string, EnumDescriptor>();

  constructor(root: RawNamespace) {
    const index = (namespace: RawNamespace, prefix: string) => {
      for (const [name, child] of Object.entries(namespace.nested ?? {})) {
        const fullName = prefix ? `${prefix}.${name}` : name;
        this.#raw.set(fullName, child);
        index(child, fullName);
      }
    };
    index(root, "");
  }

  /** The message type `fullName` (e.g. `google.cloud.run.v2.Service`); throws if there is none. */
  message(fullName: string): MessageDescriptor {
    const cached = this.#messages.get(fullName);
    if (cached) return cached;
    const raw = this.#raw.get(fullName);
    if (!raw?.fields) throw new Error(`no message type ${fullName} in the Cloud Run descriptors`);
    const inOneof = new Set(Object.values(raw.oneofs ?? {}).flatMap((group) => group.oneof));
    const fields = new Map<string, FieldDescriptor>();
    for (const [jsonName, field] of Object.entries(raw.fields)) {
      fields.set(jsonName, this.#describeField(fullName, jsonName, field, inOneof.has(jsonName)));
    }
    const message: MessageDescriptor = {
      fullName,
      fields,
      fieldsByProtoName: new Map([...fields.values()].map((field) => [field.protoName, field])),
    };
    this.#messages.set(fullName, message);
    return message;
  }

  /** The enum type `fullName`; throws if there is none. */
  enum(fullName: string): EnumDescriptor {
    const cached = this.#enums.get(fullName);
    if (cached) return cached;
    const values = this.#raw.get(fullName)?.values;
    if (!values) throw new Error(`no enum type ${fullName} in the Cloud Run descriptors`);
    const nameOf = new Map<number, string>();
    for (const [name, number] of Object.entries(values)) if (!nameOf.has(number)) nameOf.set(number, name);
    const descriptor: EnumDescriptor = { fullName, numberOf: new Map(Object.entries(values)), nameOf };
    this.#enums.set(fullName, descriptor);
    return descriptor;
  }

  /** Whether `fullName` names a message type (used to resolve `Any` type URLs). */
  hasMessage(fullName: string): boolean {
    return Boolean(this.#raw.get(fullName)?.fields);
  }

  #describeField(owner: string, jsonName: string, field: RawField, inOneof: boolean): FieldDescriptor {
    const common = {
      jsonName,
      protoName: protoNameOf(jsonName),
      repeated: field.rule === "repeated",
      mapKey: field.keyType,
      tracksPresence: inOneof || field.options?.proto3_optional === true,
      outputOnly: [field.options?.["(google.api.field_behavior)"]].flat().includes("OUTPUT_ONLY"),
    };
    const scalar = SCALAR_ALIASES[field.type] ?? (SCALAR_KINDS.has(field.type) ? (field.type as FieldKind) : undefined);
    if (scalar) return { ...common, kind: scalar };
    const typeName = this.#resolve(owner, field.type);
    return { ...common, kind: this.#raw.get(typeName)?.values ? "enum" : "message", typeName };
  }

  /** Resolves a type reference the way protoc does: innermost enclosing scope first. */
  #resolve(scope: string, reference: string): string {
    if (reference.startsWith(".")) return reference.slice(1);
    const parts = scope.split(".");
    for (let depth = parts.length; depth >= 0; depth--) {
      const candidate = [...parts.slice(0, depth), reference].join(".");
      if (this.#raw.has(candidate)) return candidate;
    }
    throw new Error(`cannot resolve type ${reference} from ${scope}`);
  }
}

let shared: ProtoSchema | undefined;

/** The Cloud Run v2 descriptors of the installed `@google-cloud/run`, loaded once. */
export function runSchema(): ProtoSchema {
  if (!shared) {
    const require = createRequire(import.meta.url);
    shared = new ProtoSchema(require("@google-cloud/run/build/protos/protos.json") as RawNamespace);
  }
  return shared;
}

/** Full names of the types the emulator reads and writes. */
export const TYPES = {
  service: "google.cloud.run.v2.Service",
  listServicesResponse: "google.cloud.run.v2.ListServicesResponse",
  createServiceRequest: "google.cloud.run.v2.CreateServiceRequest",
  updateServiceRequest: "google.cloud.run.v2.UpdateServiceRequest",
  deleteServiceRequest: "google.cloud.run.v2.DeleteServiceRequest",
  getServiceRequest: "google.cloud.run.v2.GetServiceRequest",
  listServicesRequest: "google.cloud.run.v2.ListServicesRequest",
  policy: "google.iam.v1.Policy",
  getIamPolicyRequest: "google.iam.v1.GetIamPolicyRequest",
  setIamPolicyRequest: "google.iam.v1.SetIamPolicyRequest",
  testIamPermissionsRequest: "google.iam.v1.TestIamPermissionsRequest",
  testIamPermissionsResponse: "google.iam.v1.TestIamPermissionsResponse",
  operation: "google.longrunning.Operation",
  listOperationsRequest: "google.longrunning.ListOperationsRequest",
  listOperationsResponse: "google.longrunning.ListOperationsResponse",
  getOperationRequest: "google.longrunning.GetOperationRequest",
  deleteOperationRequest: "google.longrunning.DeleteOperationRequest",
  waitOperationRequest: "google.longrunning.WaitOperationRequest",
  empty: "google.protobuf.Empty",
} as const;
