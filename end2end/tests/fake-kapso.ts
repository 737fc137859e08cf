// A local stand-in for Kapso's send API for the end-to-end tests: records each request
// and answers 200 with `messages[0].id = wamid.fake.<n>`; lists two templates.
import * as http from 'http';
import * as net from 'net';

export interface FakeKapso {
  url: string;
  sends: { path: string; apiKey: string; body: any }[];
  stop: () => Promise<void>;
}

export async function startFakeKapso(): Promise<FakeKapso> {
  const sends: FakeKapso['sends'] = [];
  const server = http.createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk) => (raw += chunk));
    request.on('end', () => {
      const url = request.url ?? '';
      if (request.method === 'POST' && url.endsWith('/messages')) {
        sends.push({ path: url, apiKey: String(request.headers['x-api-key'] ?? ''), body: JSON.parse(raw || 'null') });
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ messaging_product: 'whatsapp', messages: [{ id: `wamid.fake.${sends.length}` }] }));
      } else if (request.method === 'GET' && url.includes('/message_templates')) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ data: [
          { name: 'follow_up', language: 'id', status: 'APPROVED', category: 'UTILITY',
            components: [{ type: 'BODY', text: 'Halo {{1}}, pesanan {{2}} sudah siap.' }] },
          { name: 'thanks', language: 'id', status: 'APPROVED', category: 'UTILITY',
            components: [{ type: 'BODY', text: 'Terima kasih sudah berbelanja!' }] },
        ] }));
      } else {
        response.writeHead(404);
        response.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    sends,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
