// Socket.IO 4 rooms server for the Throng benchmark (a peer, not part of Throng).
//
// Protocol, as the Rust adapter speaks it over Engine.IO 4 on WebSocket only:
//   client emits "join"(room, ack)      -> the socket joins the room, then ack("ok")
//   client emits "publish"(room, text)  -> every socket in the room gets "m"(text)
// Equal settings with the other peers: loopback only, no compression, no HTTP
// long-polling, no persistence, a listen backlog raised for connection storms.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 3001);
const backlog = Number(process.env.BACKLOG || 65535);

const httpServer = http.createServer((request, response) => {
  response.writeHead(404);
  response.end();
});

const io = new Server(httpServer, {
  transports: ["websocket"],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  // Bench payloads are small; a bound keeps a bad client from growing memory.
  maxHttpBufferSize: 1 << 20,
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    if (typeof room !== "string") return;
    socket.join(room);
    if (typeof ack === "function") ack("ok");
  });
  socket.on("publish", (room, text) => {
    if (typeof room !== "string") return;
    io.to(room).emit("m", text);
  });
});

// Past the open-file limit accept() fails with EMFILE; Node reports it on the server
// and keeps listening. Count it so the operator sees why clients stall.
let acceptErrors = 0;
httpServer.on("error", (error) => {
  acceptErrors += 1;
  if (acceptErrors === 1 || acceptErrors % 1000 === 0) {
    console.error(`accept error #${acceptErrors}: ${error.code || error.message}`);
  }
});

httpServer.listen({ host, port, backlog }, () => {
  console.log(`socketio peer listening on ${host}:${port} pid ${process.pid}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
