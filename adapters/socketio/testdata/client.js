"use strict";
// Drives a real socket.io-client against the Go server under test. It reports what the
// client observes as JSON lines on stdout and obeys commands read from stdin; the Go
// test decides what happens and asserts on the report.
//
// argv[2] is a JSON object: {url, namespace, token, transports?, reconnection?}.
// Commands: "stop-pong" (stop answering pings), "disconnect". EOF on stdin ends the run.
const { io } = require("socket.io-client");
const readline = require("node:readline");

const cfg = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const socket = io(cfg.url + cfg.namespace, {
  auth: { token: cfg.token },
  transports: cfg.transports,
  reconnection: cfg.reconnection !== false,
  // Short delays keep the recovery tests fast; the PWA uses 1000 ms.
  reconnectionDelay: 100,
  reconnectionDelayMax: 200,
});

const transport = () =>
  socket.io.engine && socket.io.engine.transport
    ? socket.io.engine.transport.name
    : undefined;

socket.io.on("open", () => {
  out({ ev: "open", transport: transport() });
  socket.io.engine.on("upgrade", (t) => out({ ev: "upgrade", transport: t.name }));
});
socket.io.on("ping", () => out({ ev: "ping", transport: transport() }));
socket.on("connect", () =>
  out({ ev: "connect", id: socket.id, recovered: socket.recovered, transport: transport() }),
);
socket.on("connect_error", (err) => out({ ev: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => out({ ev: "disconnect", reason }));
socket.onAny((event, ...args) => out({ ev: "event", event, args, transport: transport() }));

readline
  .createInterface({ input: process.stdin })
  .on("line", (cmd) => {
    switch (cmd.trim()) {
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
        out({ ev: "unknown-command", command: cmd });
    }
  })
  .on("close", () => {
    socket.disconnect();
    process.exit(0);
  });
