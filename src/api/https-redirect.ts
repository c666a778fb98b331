import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenError } from './listen-error.js';

// A host name, an IPv4 address or a bracketed IPv6 address, optionally with a port we replace.
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d+)?$/;

function redirect(request: IncomingMessage, response: ServerResponse, httpsPort: number): void {
  const host = HOST_HEADER.exec(request.headers.host ?? '')?.[1];
  if (!host) {
    response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'a valid Host header is required' }));
    return;
  }
  const path = request.url?.startsWith('/') ? request.url : '/';
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  response.writeHead(301, { location: `https://${host}${port}${path}`, 'content-length': '0' }).end();
}

/** Plain HTTP exists only to send browsers to HTTPS; it serves nothing itself. */
export function startHttpsRedirect(bind: string, port: number, httpsPort: number): Promise<Server> {
  const server = createServer((request, response) => redirect(request, response, httpsPort));
  return new Promise((resolve, reject) => {
    server.once('error', (error) => reject(listenError('HTTP', bind, port, error)));
    server.listen(port, bind, () => resolve(server));
  });
}

export function stopServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
