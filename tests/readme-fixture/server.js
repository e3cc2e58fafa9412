// A minimal server written from README.md's "Testing your own server (`--url`)" list alone:
// socket.io 4.8 with exactly the standard fixture's handlers and options, nothing else
// (no extra handlers, no driver reports). tests/readme_fixture.rs starts it and runs
// siospec through --url: it must get no false FAIL.
//
//   node tests/readme-fixture/server.js [PORT]     prints "listening <port>" when ready
"use strict";
const http = require("http");
const path = require("path");
const { createRequire } = require("module");

const modules = path.join(__dirname, "..", "..", "fixtures", "drivers", "node", "node_modules");
const { Server } = require(path.join(modules, "socket.io-4.8"));
const engineio = createRequire(require.resolve(path.join(modules, "socket.io-4.8")))("engine.io");

// Options: pingInterval 300 ms, pingTimeout 200 ms, maxHttpBufferSize 1e6, CORS origin `*`,
// allowEIO3 off, transports polling and websocket; Socket.IO: connectTimeout 1000 ms,
// connectionStateRecovery off. (destroyUpgrade: false only because both layers share one
// HTTP server: each must leave the other's upgrades alone.)
const engineOptions = {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  allowEIO3: false,
  transports: ["polling", "websocket"],
  destroyUpgrade: false,
};

const server = http.createServer();

// Engine.IO level, on /engine.io/: echo every message back, text and binary.
const engine = engineio.attach(server, Object.assign({}, engineOptions, { path: "/engine.io/" }));
engine.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
});

// Socket.IO level, on /socket.io/, namespaces / and /custom (any other is refused).
const io = new Server(server, Object.assign({}, engineOptions, { path: "/socket.io/", serveClient: false, connectTimeout: 1000 }));
for (const name of ["/", "/custom"]) {
  io.of(name).on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
    socket.on("message", (...args) => socket.emit("message-back", ...args));
    socket.on("message-with-ack", (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });
  });
}

server.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
