// A real leadline server for end-to-end tests: the debug binary built by the Rust test
// stage, a fresh SQLite database in a temp dir, a free port. Kapso's side is played by
// signing deliveries with the workspace's webhook secret, exactly as Kapso does.
import { expect, Page } from '@playwright/test';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import { createHmac } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const bin = path.resolve(process.env.LEADLINE_BIN || path.join(root, 'target', 'debug', 'leadline'));
const siteRoot = process.env.LEADLINE_SITE_ROOT || path.join(root, 'target', 'site');

export const PHONE_NUMBER_ID = '123456789012345';
export const OWNER = { email: 'owner@toko.example', password: 'correct horse battery' };

export interface Server {
  baseUrl: string;
  databaseUrl: string;
  webhookSecret: string;
  apiToken: string;
  output: () => string;
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address() as net.AddressInfo;
      probe.close(() => resolve(address.port));
    });
    probe.on('error', reject);
  });
}

export function cli(databaseUrl: string, args: string[], input?: string): any {
  const out = execFileSync(bin, args, {
    env: { ...process.env, DATABASE_URL: databaseUrl, RUST_LOG: 'warn' },
    input,
  });
  return JSON.parse(out.toString());
}

/** Starts a server. With `withOwner`, a workspace and its owner exist already;
 *  without, the database is empty and the server prints its one-time setup link. */
export async function startServer(options: { withOwner: boolean; env?: Record<string, string> }): Promise<Server> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadline-e2e-'));
  const databaseUrl = `sqlite://${dir}/leadline.db`;
  let webhookSecret = '';
  let apiToken = '';
  if (options.withOwner) {
    const workspace = cli(databaseUrl, ['workspace', 'create', '--name', 'Toko Maju', '--phone-number-id', PHONE_NUMBER_ID]);
    webhookSecret = workspace.webhook_secret;
    apiToken = workspace.api_token;
    cli(databaseUrl, ['user', 'create', '--workspace', PHONE_NUMBER_ID, '--email', OWNER.email, '--role', 'owner'], OWNER.password + '\n');
  }
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(bin, ['serve'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: siteRoot,
      RUST_LOG: process.env.RUST_LOG || 'warn',
      ...(options.env ?? {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk) => (output += chunk.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const ready = await fetch(`${baseUrl}/readyz`);
      if (ready.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`leadline did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    databaseUrl,
    webhookSecret,
    apiToken,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sends a delivery signed with the workspace secret, as Kapso does. */
export async function deliver(server: Server, body: unknown, event = 'whatsapp.message.received', secret?: string) {
  const raw = JSON.stringify(body);
  const signature = createHmac('sha256', secret ?? server.webhookSecret).update(raw).digest('hex');
  const response = await fetch(`${server.baseUrl}/api/webhook/kapso`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-webhook-signature': signature, 'x-webhook-event': event },
    body: raw,
  });
  if (!response.ok) {
    throw new Error(`delivery refused: ${response.status} ${await response.text()}`);
  }
  return response.json();
}

let counter = 0;

/** A Kapso v2 inbound text message. */
export function kapsoMessage(opts: { phone: string; conversation: string; name?: string | null; text: string; id?: string }) {
  counter += 1;
  return {
    message: {
      id: opts.id ?? `wamid.E2E.${Date.now()}.${counter}`,
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: 'text',
      text: { body: opts.text },
      kapso: { direction: 'inbound', status: 'received', has_media: false, content: opts.text },
    },
    conversation: {
      id: opts.conversation,
      phone_number: opts.phone,
      status: 'active',
      phone_number_id: PHONE_NUMBER_ID,
      kapso: { contact_name: opts.name ?? null },
    },
    is_new_conversation: false,
    phone_number_id: PHONE_NUMBER_ID,
  };
}

/** The same kind of message in Meta's own format (number without +). */
export function metaMessage(opts: { waId: string; name: string; text: string }) {
  counter += 1;
  return {
    object: 'whatsapp_business_account',
    entry: [{
      id: '102290129340398',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '6281100002222', phone_number_id: PHONE_NUMBER_ID },
          contacts: [{ profile: { name: opts.name }, wa_id: opts.waId }],
          messages: [{ from: opts.waId, id: `wamid.META.${Date.now()}.${counter}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: opts.text } }],
        },
      }],
    }],
  };
}

export const artifacts = path.join(__dirname, '..', 'artifacts');
fs.mkdirSync(artifacts, { recursive: true });

/** Waits until the page is hydrated (interactive): the shell marks `<html class="js">` then. */
export async function hydrated(page: Page) {
  await expect(page.locator('html.js')).toHaveCount(1);
}

/** Signs the workspace owner in through the real form and waits for the Database. */
export async function signInAsOwner(page: Page, server: Server) {
  await page.goto(`${server.baseUrl}/login`);
  await page.getByLabel('Email').fill(OWNER.email);
  await page.getByLabel('Password').fill(OWNER.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/leads/);
}
