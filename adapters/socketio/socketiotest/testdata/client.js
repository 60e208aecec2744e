"use strict";
// Drives the PWA's socket.io-client (4.8.1, default options unless told otherwise)
// against the server under test. It reports what the client observes as JSON lines on
// stdout and obeys commands read from stdin; the Go test decides what happens and
// asserts on the report.
//
// argv[2] is a JSON object: {url, namespace, token, transports?, auth?, noReconnection?}.
// auth holds extra fields merged into the CONNECT auth object (a forged pid, say).
//
// Commands:
//   offline    close the transport and stay away (no automatic reconnection)
//   online     reconnect; socket.io-client sends its pid and last offset
//   chaos N    close the connected transport at random moments, at most N ms apart, and
//              let the client reconnect by itself each time
//   calm       stop closing the transport
//   stop-pong  stop answering pings
//   disconnect close the socket
// EOF on stdin ends the run.
const { io } = require("socket.io-client");
const readline = require("node:readline");

const cfg = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const socket = io(cfg.url + cfg.namespace, {
  auth: Object.assign({ token: cfg.token }, cfg.auth || {}),
  transports: cfg.transports,
  reconnection: !cfg.noReconnection,
  // Short delays keep the tests fast; the PWA uses 1000 ms.
  reconnectionDelay: 50,
  reconnectionDelayMax: 100,
});

const transport = () =>
  socket.io.engine && socket.io.engine.transport ? socket.io.engine.transport.name : undefined;

socket.io.on("open", () => {
  out({ ev: "open", transport: transport() });
  socket.io.engine.on("upgrade", (t) => out({ ev: "upgrade", transport: t.name }));
});
socket.io.on("ping", () => out({ ev: "ping", transport: transport() }));
socket.on("connect", () =>
  out({ ev: "connect", id: socket.id, recovered: socket.recovered, pid: socket._pid, transport: transport() }),
);
socket.on("connect_error", (err) => out({ ev: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => out({ ev: "disconnect", reason }));
socket.onAny((event, ...args) => out({ ev: "event", event, args, transport: transport() }));

let chaos = null;
const closeTransport = () => {
  if (socket.io.engine) socket.io.engine.close();
};

readline
  .createInterface({ input: process.stdin })
  .on("line", (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    switch (cmd) {
      case "offline":
        socket.io.reconnection(false);
        closeTransport();
        break;
      case "online":
        socket.io.reconnection(true);
        socket.connect();
        break;
      case "chaos": {
        // Only an established connection is dropped: closing an engine that is still
        // opening leaves socket.io-client waiting for its 20 s connect timeout.
        const max = Number(arg) || 200;
        const next = () => {
          chaos = setTimeout(() => {
            if (socket.connected) closeTransport();
            next();
          }, Math.random() * max);
        };
        next();
        break;
      }
      case "calm":
        clearTimeout(chaos);
        chaos = null;
        out({ ev: "calm" });
        break;
      case "stop-pong": {
        // The engine answers a ping through _sendPacket("pong"); dropping that packet
        // is a client that still reads but no longer answers.
        const engine = socket.io.engine;
        const send = engine._sendPacket.bind(engine);
        engine._sendPacket = (type, ...rest) => (type === "pong" ? undefined : send(type, ...rest));
        out({ ev: "pongs-stopped" });
        break;
      }
      case "disconnect":
        socket.disconnect();
        break;
      default:
        out({ ev: "unknown-command", command: line });
    }
  })
  .on("close", () => {
    clearTimeout(chaos);
    socket.disconnect();
    process.exit(0);
  });
