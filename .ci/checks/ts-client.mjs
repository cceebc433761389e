// The official MCP TypeScript SDK client (a client nobody here wrote) against a running mempool-ws.
//
// Usage: node ts-client.mjs <mcp-url> <dir holding node_modules/@modelcontextprotocol/sdk>
//
// It lists the tools, calls every one with valid arguments (CALLS below), and reads the resources,
// the way an agent's host would: the SDK's default request timeout (60 s, never raised here) and its
// validation of structured results against each tool's output schema. One line per check; the exit
// code is 1 when any check failed. A tool the server lists but CALLS does not know fails the check:
// add it to CALLS with the arguments an agent following its description would send. It also checks
// what a model reads: the tool list within TOOL_LIST_LIMIT bytes, a one-line summary first in each
// result, a bad argument answered in one plain sentence, the prompts; and that a 90 s alert_when
// outlives the 60 s default timeout when the caller restarts it on progress (the server's keep-alives).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [url, sdkDir] = process.argv.slice(2);
if (!url || !sdkDir) {
  console.error("usage: node ts-client.mjs <mcp-url> <sdk-install-dir>");
  process.exit(2);
}
// The SDK lives in .tools/ts-client, not next to this file: resolve it from there (its CommonJS build).
const sdk = createRequire(path.join(path.resolve(sdkDir), "package.json"));
const { Client } = sdk("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = sdk("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { DEFAULT_REQUEST_TIMEOUT_MSEC } = sdk("@modelcontextprotocol/sdk/shared/protocol.js");
const { LATEST_PROTOCOL_VERSION } = sdk("@modelcontextprotocol/sdk/types.js");
const sdkPackage = path.join(path.resolve(sdkDir), "node_modules/@modelcontextprotocol/sdk/package.json");
const sdkVersion = JSON.parse(readFileSync(sdkPackage, "utf8")).version;

// A mainnet address (valid bech32) for track_address; activity is not needed, only a valid call.
const ADDRESS = "bc1q563uveczer8sx7kd4c7a5h9c4me9dv36n9rgcg";
const ADDRESS_2 = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
// A txid for track_tx; the simulator does not know it, so the calls show the "not seen" answer.
const TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";

// Every tool and the calls made to it: first with only the required arguments (the defaults an agent
// gets when it follows the description), then the snapshot pull (want=false) where there is one.
const CALLS = {
  stream_blocks: [{}, { want: false }, { want: false, full: true }],
  stream_mempool_blocks: [{}, { want: false }, { max_events: 2, full: true }],
  stream_stats: [{}, { want: false }, { want: false, full: true }],
  stream_live2h: [{}, { want: false }, { want: false, full: true }],
  track_address: [
    { address: ADDRESS },
    { address: ADDRESS, want: false },
    { address: ADDRESS, want: false, full: true },
    { address: ADDRESS, more_addresses: [ADDRESS_2], timeout_s: 5 },
  ],
  track_tx: [{ txid: TXID, timeout_s: 5 }, { txid: TXID, want: false }, { txid: TXID, want: false, full: true }],
  alert_when: [
    { metric: "mempool_tx_count", above: 0 },
    { metric: "next_block_median_fee", below: 1000000 },
    { metric: "mempool_vsize_mb", above: 300, want: false },
  ],
  health: [{}],
};
const TOOL_LIST_LIMIT = 16 * 1024; // issue 12: the whole tool list in 16 KB
// Waits past the SDK's 60 s default: it survives only because the server sends keep-alive progress while
// the condition does not hold, and the caller restarts its timeout on progress.
const LONG_WAIT = { name: "alert_when", arguments: { metric: "mempool_tx_count", below: 0, timeout_s: 90 } };
const BAD_CALL = { name: "stream_stats", arguments: { max_events: 0 } };
const BOILERPLATE = /pydantic|https?:\/\/|for further information|type=|input_value|validation error for/i;
const PROMPTS = { mempool_alert: { threshold_mb: "300" }, watch_payment: { address: ADDRESS }, next_block_fee: {} };

let failures = 0;
const started = Date.now();
const seconds = (since) => ((Date.now() - since) / 1000).toFixed(1);
const ok = (what, detail = "") => console.log(`ok   ${what}${detail ? `: ${detail}` : ""}`);
const fail = (what, detail) => {
  failures += 1;
  console.log(`FAIL ${what}: ${detail}`);
};
const describe = (error) => (error?.code !== undefined ? `MCP error ${error.code}: ${error.message}` : String(error));

// One check: run `body`, print ok with its detail (or FAIL with the error), never throw.
async function check(what, body) {
  const since = Date.now();
  try {
    const detail = await body();
    ok(`${what} (${seconds(since)} s)`, detail);
  } catch (error) {
    fail(`${what} (${seconds(since)} s)`, describe(error));
  }
}

const client = new Client({ name: "mempool-ws-ts-client-check", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url));
try {
  await client.connect(transport);
} catch (error) {
  fail("connect", describe(error));
  process.exit(1);
}
const server = client.getServerVersion();
ok(
  "initialize",
  `SDK ${sdkVersion} (offers ${LATEST_PROTOCOL_VERSION}), negotiated ${transport.protocolVersion}, ` +
    `server ${server?.name} ${server?.version}, default request timeout ${DEFAULT_REQUEST_TIMEOUT_MSEC / 1000} s`,
);
const capabilities = client.getServerCapabilities() ?? {};
ok("capabilities", JSON.stringify(capabilities));

let tools = [];
await check("tools/list", async () => {
  tools = (await client.listTools()).tools; // also compiles each output schema's validator
  const bytes = Buffer.byteLength(JSON.stringify({ tools }));
  if (bytes > TOOL_LIST_LIMIT) throw new Error(`${bytes} bytes, over the ${TOOL_LIST_LIMIT} a model's context can spare`);
  return `${tools.length} tools, ${bytes} bytes: ${tools.map((tool) => tool.name).join(", ")}`;
});
for (const tool of tools) {
  if (!(tool.name in CALLS)) fail(`tools/call ${tool.name}`, "no arguments known: add it to CALLS in ts-client.mjs");
}
for (const name of Object.keys(CALLS)) {
  if (!tools.some((tool) => tool.name === name)) fail(`tools/call ${name}`, "in CALLS but not listed by the server");
}

// The calls run concurrently (as an agent's parallel tool calls do); each prints when it ends.
const calls = tools
  .filter((tool) => tool.name in CALLS)
  .flatMap((tool) => CALLS[tool.name].map((args) => [tool.name, args]));
const longWait = check(`tools/call ${LONG_WAIT.name} ${JSON.stringify(LONG_WAIT.arguments)} (resetTimeoutOnProgress)`, async () => {
  const messages = [];
  const options = { onprogress: (progress) => messages.push(progress.message), resetTimeoutOnProgress: true };
  const result = await client.callTool(LONG_WAIT, undefined, options);
  if (result.isError) throw new Error(`isError: ${result.content?.map((part) => part.text).join(" ")}`);
  if (result.structuredContent?.triggered !== false) throw new Error("the condition cannot hold, yet it triggered");
  const keepalives = messages.filter((message) => JSON.parse(message).keepalive === true).length;
  if (keepalives < 4) throw new Error(`only ${keepalives} keep-alive progress notifications in 90 s`);
  return `${keepalives} keep-alives over the ${DEFAULT_REQUEST_TIMEOUT_MSEC / 1000} s default timeout`;
});
await Promise.all(
  calls.map(([name, args]) =>
    check(`tools/call ${name} ${JSON.stringify(args)}`, async () => {
      let progress = 0;
      const result = await client.callTool({ name, arguments: args }, undefined, { onprogress: () => (progress += 1) });
      if (result.isError) throw new Error(`isError: ${result.content?.map((part) => part.text).join(" ")}`);
      const text = result.content?.map((part) => part.text ?? "").join("") ?? "";
      const [summary, json] = [text.slice(0, text.indexOf("\n")), text.slice(text.indexOf("\n") + 1)];
      const sameJson = (() => {
        try {
          return JSON.stringify(JSON.parse(json)) === JSON.stringify(result.structuredContent);
        } catch {
          return false;
        }
      })();
      if (!summary || summary.startsWith("{") || !sameJson) {
        throw new Error(`the text is not a summary line then the structured content: ${text.slice(0, 120)}`);
      }
      const structured = JSON.stringify(result.structuredContent ?? null);
      return `${progress} progress, ${text.length} chars of text, ${structured.length} of structured content: ${summary}`;
    }),
  ),
);
await check(`tools/call ${BAD_CALL.name} ${JSON.stringify(BAD_CALL.arguments)} (refused in one sentence)`, async () => {
  const result = await client.callTool(BAD_CALL);
  const text = result.content?.map((part) => part.text ?? "").join("") ?? "";
  if (!result.isError || text.includes("\n") || BOILERPLATE.test(text) || !text.includes("max_events")) {
    throw new Error(`not one plain sentence naming the parameter: ${text}`);
  }
  return text;
});

let resources = [];
await check("resources/list", async () => {
  resources = (await client.listResources()).resources;
  return resources.map((resource) => resource.uri).join(", ");
});
let templates = [];
await check("resources/templates/list", async () => {
  templates = (await client.listResourceTemplates()).resourceTemplates;
  return templates.map((template) => template.uriTemplate).join(", ");
});
const network = resources[0]?.uri?.match(/^mempool:\/\/([^/]+)\//)?.[1] ?? "mainnet";
const uris = [
  ...resources.map((resource) => resource.uri),
  ...["blocks", "mempool-blocks", "stats", "live-2h-chart"].map((topic) => `mempool://${network}/${topic}`),
  `mempool://${network}/address/${ADDRESS}`,
  `mempool://${network}/tx/${TXID}`,
];
for (const uri of new Set(uris)) {
  await check(`resources/read ${uri}`, async () => {
    const { contents } = await client.readResource({ uri });
    const text = contents.map((content) => content.text ?? "").join("");
    JSON.parse(text); // every resource is JSON
    return `${text.length} chars of ${contents[0]?.mimeType}`;
  });
}
await check("prompts/list", async () => {
  if (!capabilities.prompts) throw new Error("no prompts capability");
  const names = (await client.listPrompts()).prompts.map((prompt) => prompt.name).sort();
  if (JSON.stringify(names) !== JSON.stringify(Object.keys(PROMPTS).sort())) throw new Error(`listed ${names}`);
  return names.join(", ");
});
for (const [name, args] of Object.entries(PROMPTS)) {
  await check(`prompts/get ${name} ${JSON.stringify(args)}`, async () => {
    const { messages } = await client.getPrompt({ name, arguments: args });
    const text = messages.map((message) => message.content.text ?? "").join("");
    if (!text.includes("cursor") && name !== "next_block_fee") throw new Error(`no cursor loop: ${text}`);
    return `${text.length} chars`;
  });
}
await longWait;

await client.close();
console.log(`${failures ? "FAILED" : "passed"}: ${failures} failing checks in ${seconds(started)} s`);
process.exit(failures ? 1 : 0);
