// Conformance app: the official `inngest` SDK, synced with and executed by support-steps.
// Prints `PORT=<n>` on stdout once listening (the Rust test's handshake).
"use strict";

const http = require("node:http");
const { Inngest, NonRetriableError } = require("inngest");
const { serve } = require("inngest/node");

const inngest = new Inngest({ id: "conformance" });
const attempts = {};

const functions = [
  inngest.createFunction({ id: "serial" }, { event: "js/serial" }, async ({ event, step }) => {
    const a = await step.run("a", () => 1);
    const b = await step.run("b", () => a + 1);
    return { sum: a + b + (event.data.n || 0) };
  }),

  inngest.createFunction({ id: "flaky", retries: 3 }, { event: "js/flaky" }, async ({ step, runId }) => {
    return await step.run("call", () => {
      attempts[runId] = (attempts[runId] || 0) + 1;
      if (attempts[runId] < 3) throw new Error("upstream 503");
      return { ok: true, attempts: attempts[runId] };
    });
  }),

  inngest.createFunction({ id: "strict", retries: 5 }, { event: "js/strict" }, async ({ step }) => {
    await step.run("validate", () => {
      throw new NonRetriableError("bad input");
    });
    return "unreachable";
  }),

  inngest.createFunction({ id: "sleeper" }, { event: "js/sleep" }, async ({ step }) => {
    const before = await step.run("before", () => Date.now());
    await step.sleep("nap", "1s"); // the JS SDK rounds time strings to whole seconds
    const after = await step.run("after", () => Date.now());
    return { slept: after - before };
  }),

  inngest.createFunction({ id: "approval" }, { event: "js/approval.requested" }, async ({ event, step }) => {
    const decided = await step.waitForEvent("wait-decision", {
      event: "js/approval.decided",
      timeout: event.data.timeout || "60s",
      if: "async.data.action_id == event.data.action_id",
    });
    return { decision: decided ? decided.data.decision : "expired" };
  }),

  inngest.createFunction({ id: "sender" }, { event: "js/start" }, async ({ event, step }) => {
    const { ids } = await step.sendEvent("fan-out", { name: "js/ping", data: { n: event.data.n } });
    return { ids };
  }),

  inngest.createFunction({ id: "receiver" }, { event: "js/ping" }, async ({ event }) => ({ got: event.data.n })),

  inngest.createFunction({ id: "parallel" }, { event: "js/parallel" }, async ({ step }) => {
    const [a, b, c] = await Promise.all([
      step.run("p", () => 1),
      step.run("p", () => 2),
      step.run("q", () => 3),
    ]);
    const total = await step.run("total", () => a + b + c);
    return total;
  }),

  // The benchmark's five-step function (`cargo xtask bench-steps`), the twin of the embedded one.
  inngest.createFunction({ id: "bench-five" }, { event: "js/bench.five" }, async ({ step }) => {
    let total = 0;
    for (let i = 1; i <= 5; i++) total += await step.run(`s${i}`, () => i);
    return { total };
  }),

  inngest.createFunction(
    { id: "cancellable", cancelOn: [{ event: "js/cancel", if: "async.data.id == event.data.id" }] },
    { event: "js/job" },
    async ({ step }) => {
      await step.waitForEvent("forever", { event: "js/never", timeout: "1h" });
      return "not cancelled";
    },
  ),
];

const server = http.createServer(serve({ client: inngest, functions }));
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT=${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
