// nginx in front of a test server, with the operators' proxy snippet as shipped
// (deploy/nginx/securechat-proxy.conf) and the http {} part of deploy/nginx/securechat.conf
// without TLS, on a free loopback port (never 80 or 443: the port must reach the server in
// the Host header for the browser's WebSocket to pass the Origin check).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ROOT, freePort } from './harness.mjs';

const SNIPPET = join(ROOT, 'deploy', 'nginx', 'securechat-proxy.conf');

/** nginx: SECURECHAT_TEST_NGINX, else `nginx` on the PATH or in the sbin folders. */
function findNginx() {
  if (process.env.SECURECHAT_TEST_NGINX) return existsSync(process.env.SECURECHAT_TEST_NGINX) ? process.env.SECURECHAT_TEST_NGINX : null;
  const dirs = [...(process.env.PATH || '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  return dirs.map((d) => join(d, 'nginx')).find((p) => existsSync(p)) || null;
}

/** Why the nginx tests cannot run here, or false. With CI set, a missing nginx fails. */
export function nginxSkipReason() {
  if (findNginx()) return false;
  if (process.env.CI) throw new Error('nginx is required in CI (apt-get install nginx) for the browser test through nginx');
  console.log('browser test through nginx skipped: nginx not installed (apt-get install nginx)');
  return 'nginx not installed';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** nginx proxying to the server on 127.0.0.1:`upstreamPort`: { url, port, accessLog(), errorLog(), stop() }. */
export async function startNginx(upstreamPort) {
  const binary = findNginx();
  const dir = mkdtempSync(join(tmpdir(), 'securechat-nginx-'));
  const port = await freePort();
  writeFileSync(join(dir, 'securechat-proxy.conf'), readFileSync(SNIPPET));
  // Every temporary path in the test's folder: nginx runs without its system folders here.
  const conf = `worker_processes 1;
master_process off;
events { worker_connections 256; }
http {
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    types { text/html html; }
    log_format upstream '$remote_addr $request_method $uri $status host=$http_host';
    access_log ${dir}/access.log upstream;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      '';
    }
    upstream securechat_nodes {
        server 127.0.0.1:${upstreamPort};
        keepalive 8;
    }
    server {
        listen 127.0.0.1:${port};
        include ${dir}/securechat-proxy.conf;
    }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  let errors = '';
  const proc = spawn(binary, ['-p', dir, '-e', 'stderr', '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${dir}/nginx.pid; error_log stderr;`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr.on('data', (d) => (errors += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  };
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) {
        return {
          url,
          port,
          accessLog: () => (existsSync(join(dir, 'access.log')) ? readFileSync(join(dir, 'access.log'), 'utf8') : ''),
          errorLog: () => errors,
          async close() {
            await stop();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  await stop();
  throw new Error(`nginx did not start:\n${errors}`);
}
