// An HTTP server that checks every webhook with livekit-server-sdk's WebhookReceiver and
// prints one JSON line per request: node webhook_receiver.mjs HOST PORT API_KEY API_SECRET
import http from "node:http";
import { WebhookReceiver } from "livekit-server-sdk";

const [host, port, apiKey, apiSecret] = process.argv.slice(2);
const receiver = new WebhookReceiver(apiKey, apiSecret);

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const body = Buffer.concat(chunks).toString();
    const line = { content_type: req.headers["content-type"] || "" };
    try {
      const ev = await receiver.receive(body, req.headers["authorization"]);
      Object.assign(line, {
        status: 200, event: ev.event, id: ev.id, room: ev.room?.name || "", room_sid: ev.room?.sid || "",
        participant: ev.participant?.identity || "", track: ev.track?.sid || "",
        track_type: ev.track ? ev.track.type : null, end_reason: ev.roomEndReason || 0,
      });
    } catch (e) {
      Object.assign(line, { status: 401, error: String(e) });
    }
    console.log(JSON.stringify(line));
    res.writeHead(line.status).end();
  });
}).listen(Number(port), host, () => console.log(JSON.stringify({ listening: Number(port) })));
