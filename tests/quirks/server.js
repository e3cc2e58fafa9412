// A standard-fixture Engine.IO echo server (engine.io 6 from the Node driver's packages) with
// the lawful quirks of servers outside the catalog, for the harness's own tests
// (tests/url_quirks.rs): each quirk once made siospec give a false verdict through --url.
//
//   node tests/quirks/server.js --quirks a,b,... [--port N]
//
// quirks:
//   charset       Content-Type with parameters and other case: application/json;charset=utf-8,
//                 text/plain;charset=utf-8 (RFC 9110: the same media types)
//   typed-posts   a POST/PUT without Content-Type is refused (415) and does nothing else
//   slow-upgrade  a websocket frame `5` (upgrade) is processed 150 ms late, and the frames
//                 after it behind it, in order (as a busy server may)
//   early-expiry  every session is closed 60 ms after its handshake (a session that is not
//                 alive any more when the case gets to it)
//
// Prints one line {"event":"ready","port":N} on stdout; serves /engine.io/ with the standard
// options (pingInterval 300, pingTimeout 200, maxHttpBufferSize 1e6, cors *, allowEIO3 on so
// the eio3 suite can run too).
"use strict";
const http = require("http");
const path = require("path");
const modules = path.join(__dirname, "..", "..", "fixtures", "drivers", "node", "node_modules");
const eio = require(path.join(modules, "engine.io-6"));
const { Transport } = require(path.join(modules, "engine.io-6", "build", "transport"));

const args = process.argv.slice(2);
let quirks = [];
let port = 0;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--quirks") quirks = args[++i].split(",").filter(Boolean);
  else if (args[i] === "--port") port = Number(args[++i]);
  else {
    process.stderr.write(`unknown argument ${args[i]}\n`);
    process.exit(2);
  }
}
const KNOWN = ["charset", "typed-posts", "slow-upgrade", "early-expiry"];
for (const q of quirks) {
  if (!KNOWN.includes(q)) {
    process.stderr.write(`unknown quirk ${q} (known: ${KNOWN.join(", ")})\n`);
    process.exit(2);
  }
}
const has = (q) => quirks.includes(q);

if (has("slow-upgrade")) {
  const orig = Transport.prototype.onData;
  Transport.prototype.onData = function (data) {
    if (this.name !== "websocket") return orig.call(this, data);
    const s = this._slow || (this._slow = { queue: [], busy: false });
    if (data === "5" || s.busy) {
      s.queue.push(data);
      if (!s.busy) {
        s.busy = true;
        setTimeout(() => {
          s.busy = false;
          for (const d of s.queue.splice(0)) orig.call(this, d);
        }, 150);
      }
      return;
    }
    return orig.call(this, data);
  };
}

const engine = new eio.Server({
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  allowEIO3: true,
});
engine.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
  if (has("early-expiry")) setTimeout(() => socket.close(), 60);
});

function withCharset(value) {
  if (typeof value !== "string") return value;
  const type = value.split(";")[0].trim().toLowerCase();
  if (type === "application/json" || type === "text/plain") return `${type};charset=utf-8`;
  return value;
}

const server = http.createServer((req, res) => {
  if (!req.url.startsWith("/engine.io/")) {
    res.writeHead(404);
    return res.end("not found");
  }
  if (has("charset")) {
    const setHeader = res.setHeader;
    res.setHeader = function (name, value) {
      return setHeader.call(this, name, String(name).toLowerCase() === "content-type" ? withCharset(value) : value);
    };
    const writeHead = res.writeHead;
    res.writeHead = function (status, ...rest) {
      for (const h of rest) {
        if (h && typeof h === "object") {
          for (const k of Object.keys(h)) if (k.toLowerCase() === "content-type") h[k] = withCharset(h[k]);
        }
      }
      return writeHead.call(this, status, ...rest);
    };
  }
  if (has("typed-posts") && (req.method === "POST" || req.method === "PUT") && !req.headers["content-type"]) {
    res.writeHead(415, { "Content-Type": "text/plain" });
    return res.end("a request body needs a Content-Type");
  }
  engine.handleRequest(req, res);
});
server.on("upgrade", (req, socket, head) => {
  if (!req.url.startsWith("/engine.io/")) return socket.destroy();
  engine.handleUpgrade(req, socket, head);
});
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ event: "ready", port: server.address().port, quirks }) + "\n");
});
process.on("SIGTERM", () => process.exit(0));
