import { describe, expect, it } from "vitest";
import { isKind } from "../../core.ts";
import {
  decodeControl,
  encodeControl,
  isDigest,
  newDeploymentKey,
  newResumeToken,
  sameToken,
  sessionProof,
  verifySessionProof,
  type ControlMessage,
} from "./attach-protocol.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;

function rejectionOf(text: string): Error {
  try {
    decodeControl(text);
  } catch (err) {
    expect(isKind(err, "invalid")).toBe(true);
    return err as Error;
  }
  throw new Error(`expected ${text} to be refused`);
}

describe("the session proof", () => {
  const key = newDeploymentKey();
  const secret = newResumeToken() + newResumeToken();

  it("verifies a proof made with the same key, and nothing else", () => {
    const proof = sessionProof(key, secret);
    expect(verifySessionProof(key, secret, proof)).toBe(true);
    expect(verifySessionProof(newDeploymentKey(), secret, proof)).toBe(false);
    expect(verifySessionProof(key, `${secret}x`, proof)).toBe(false);
    expect(verifySessionProof(key, secret, proof.slice(1))).toBe(false);
    expect(verifySessionProof(key, secret, null)).toBe(false);
    expect(verifySessionProof(key, null, proof)).toBe(false);
  });

  it("refuses short secrets even with a matching proof", () => {
    expect(verifySessionProof(key, "short", sessionProof(key, "short"))).toBe(false);
  });

  it("makes distinct random keys and tokens, and compares tokens exactly", () => {
    expect(newDeploymentKey()).not.toBe(newDeploymentKey());
    const token = newResumeToken();
    expect(sameToken(token, token)).toBe(true);
    expect(sameToken(token, `${token}x`)).toBe(false);
    expect(sameToken(token, null)).toBe(false);
  });
});

describe("control messages", () => {
  const messages: ControlMessage[] = [
    { type: "hello", machineId: "m-1", resumeToken: "tok", instanceId: "00bf", programs: [DIGEST] },
    { type: "exec", digest: DIGEST, shipped: true, args: ["-n", "4"], env: { A: "1" } },
    { type: "ready", machineId: "m-1", pid: 42, resumeToken: "t-1" },
    { type: "failed", kind: "not-supported", message: "no" },
    { type: "exit", code: 1, signal: null },
    { type: "exit", code: null, signal: "SIGKILL" },
  ];

  it("round-trip", () => {
    for (const message of messages) expect(decodeControl(encodeControl(message))).toEqual(message);
  });

  it("refuse text that is not a well-formed message, naming the problem", () => {
    expect(rejectionOf("not json").message).toMatch(/not JSON/);
    expect(rejectionOf("[1]").message).toMatch(/not an object/);
    expect(rejectionOf('{"type":"launch"}').message).toMatch(/unknown type "launch"/);
    expect(rejectionOf('{"type":"exec","digest":"md5:00","shipped":false,"args":[],"env":{}}').message).toMatch(/digest/);
    expect(rejectionOf(`{"type":"exec","digest":"${DIGEST}","shipped":false,"args":[1],"env":{}}`).message).toMatch(/args/);
    expect(rejectionOf(`{"type":"exec","digest":"${DIGEST}","shipped":false,"args":[],"env":{"A":1}}`).message).toMatch(/env/);
    expect(rejectionOf('{"type":"hello","machineId":"m","resumeToken":"t","instanceId":"i","programs":["x"]}').message).toMatch(/programs/);
    expect(rejectionOf('{"type":"ready","machineId":"m","pid":"42"}').message).toMatch(/pid/);
    expect(rejectionOf('{"type":"exit","code":1.5,"signal":null}').message).toMatch(/code/);
  });

  it("recognize digests", () => {
    expect(isDigest(DIGEST)).toBe(true);
    for (const bad of [DIGEST.toUpperCase(), `${DIGEST}0`, "sha256:../../etc", 7]) expect(isDigest(bad)).toBe(false);
  });
});
