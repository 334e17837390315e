// An agent written against the official TypeScript MCP SDK, driving the server's /mcp endpoint over real HTTP while a
// person (an approver key on the REST API) decides. Prints one JSON object with what each scenario saw.
// Usage: node client.js <base url> <agent key> <other agent key> <approver key>
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [baseUrl, agentKey, otherAgentKey, approverKey] = process.argv.slice(2);
const mcpUrl = new URL("mcp", baseUrl);
const run = Date.now().toString(36);

async function connect(key, scheme = "Bearer") {
  const headers = key ? { Authorization: `${scheme} ${key}` } : {};
  const transport = new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers } });
  const client = new Client({ name: "agentsentinel-ts-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

// The approver's side, through the REST API.
async function rest(method, path, body) {
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers: { Authorization: `ApiKey ${approverKey}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  }
  return json;
}

// Finds the request an agent just made (while its tool call is still waiting) by its unique action name.
async function findRequest(actionName, status) {
  for (let i = 0; i < 400; i++) {
    const page = await rest("GET", `/api/v1/approvals?action_name=${encodeURIComponent(actionName)}&status=${status}`);
    if (page.items.length > 0) {
      return page.items[0];
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no ${status} request named ${actionName}`);
}

function summary(result) {
  return {
    is_error: result.isError === true,
    text: result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n"),
    structured: result.structuredContent ?? null,
  };
}

async function main() {
  const out = {};
  const agent = await connect(agentKey);
  const call = (name, args, options) => agent.callTool({ name, arguments: args }, undefined, { timeout: 60000, ...options });

  // Tool listing and schemas.
  const tools = (await agent.listTools()).tools;
  out.tools = tools.map((t) => ({
    name: t.name,
    properties: Object.keys(t.inputSchema.properties ?? {}),
    required: t.inputSchema.required ?? [],
    has_output_schema: !!t.outputSchema,
  }));

  // Approved within wait_seconds: the approver decides while the call waits.
  {
    const action = `ts_approve_${run}`;
    const pending = call("request_approval", { action_name: action, wait_seconds: 30, action_inputs: { amount: 5 } });
    const request = await findRequest(action, "pending");
    await rest("POST", `/api/v1/approvals/${request.id}/approve`, { notes: "fine by me" });
    out.approved = summary(await pending);
  }

  // Pending after wait_seconds (with progress notifications), then wait_for_decision.
  {
    const action = `ts_pending_${run}`;
    const progress = [];
    const first = summary(await call("request_approval", { action_name: action, wait_seconds: 6 }, { onprogress: (p) => progress.push(p) }));
    const waiting = call("wait_for_decision", { approval_id: first.structured.id, wait_seconds: 30 });
    await new Promise((r) => setTimeout(r, 300));
    await rest("POST", `/api/v1/approvals/${first.structured.id}/approve`, {});
    out.pending = { first, progress, then: summary(await waiting) };
  }

  // A question, its answer, then the decision.
  {
    const action = `ts_question_${run}`;
    const asking = call("request_approval", { action_name: action, wait_seconds: 30 });
    const request = await findRequest(action, "pending");
    await rest("POST", `/api/v1/approvals/${request.id}/request-info`, { question: "Which account?" });
    const asked = summary(await asking);
    const answered = summary(await call("answer_question", { approval_id: request.id, response: "The savings account." }));
    await rest("POST", `/api/v1/approvals/${request.id}/approve`, {});
    const decided = summary(await call("wait_for_decision", { approval_id: request.id, wait_seconds: 10 }));
    out.question = { asked, answered, decided };
  }

  // Cancel.
  {
    const created = summary(await call("request_approval", { action_name: `ts_cancel_${run}`, wait_seconds: 0 }));
    out.cancel = { created, cancelled: summary(await call("cancel_approval", { approval_id: created.structured.id })) };
  }

  // Idempotent retry: the same key and arguments give the same request, stored once.
  {
    const action = `ts_retry_${run}`;
    const args = { action_name: action, wait_seconds: 0, idempotency_key: `retry-${run}`, action_inputs: { n: 1 } };
    const first = summary(await call("request_approval", args));
    const second = summary(await call("request_approval", { ...args, wait_seconds: 1 }));
    const stored = (await rest("GET", `/api/v1/approvals?action_name=${action}`)).items.length;
    out.retry = { first, second, stored };
  }

  // Another agent's request is refused.
  {
    const other = await connect(otherAgentKey, "ApiKey");
    const id = out.retry.first.structured.id;
    out.stranger = {
      get: summary(await other.callTool({ name: "get_approval", arguments: { approval_id: id } })),
      cancel: summary(await other.callTool({ name: "cancel_approval", arguments: { approval_id: id } })),
    };
    await other.close();
  }

  // Bad arguments are tool errors with a sentence.
  out.bad = {
    missing: summary(await call("request_approval", { wait_seconds: 0 })),
    too_long_wait: summary(await call("request_approval", { action_name: "x", wait_seconds: 56 })),
  };

  // No key, or a wrong one: refused before any MCP traffic.
  out.unauthorized = {};
  for (const [name, key] of [["none", null], ["wrong", "as_not_a_key"]]) {
    try {
      const c = await connect(key);
      await c.close();
      out.unauthorized[name] = "connected";
    } catch (e) {
      out.unauthorized[name] = { code: e.code ?? null, name: e.constructor.name, message: String(e.message) };
    }
  }

  await agent.close();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
